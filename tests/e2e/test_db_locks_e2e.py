"""DB-01 against the real server process on the real database: a client that is slow to send
its body holds no lock, so everyone else's writes go on meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.auth.flows import FRONTEND, PASSWORD, new_email
from tests.e2e.test_accounts_e2e import _signed_up
from tests.generation.steps import portrait
from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e
BOUNDARY = "trickle"


async def _trickled_upload(sent_head: asyncio.Event, finish: asyncio.Event) -> AsyncIterator[bytes]:
    """A multipart body that stops after its first bytes until told to go on, as a client on a
    bad connection does."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="s.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body = portrait()
    yield head + body[:10]
    sent_head.set()
    await finish.wait()
    yield body[10:] + f"\r\n--{BOUNDARY}--\r\n".encode()


async def test_db01_a_trickling_upload_does_not_hold_up_a_concurrent_signup(
    live_server: LiveServer,
) -> None:
    async with httpx.AsyncClient(
        base_url=live_server.base_url, headers={"Origin": FRONTEND}, timeout=60
    ) as uploader:
        await _signed_up(uploader, live_server.mail_dir)
        sent_head, finish = asyncio.Event(), asyncio.Event()
        upload = asyncio.create_task(
            uploader.post(
                "/api/v1/files/upload",
                content=_trickled_upload(sent_head, finish),
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            )
        )
        await asyncio.wait_for(sent_head.wait(), timeout=30)
        # Give the server time to authenticate the uploader and start reading its body.
        await asyncio.sleep(0.5)
        # Shorter than SQLite's busy timeout (15 s): a signup queued behind the upload's write
        # lock would time out here instead of answering.
        async with httpx.AsyncClient(
            base_url=live_server.base_url, headers={"Origin": FRONTEND}, timeout=10
        ) as other:
            signup = await other.post(
                "/api/v1/auth/signup",
                json={"name": "Other", "email": new_email(), "password": PASSWORD},
            )
        assert signup.status_code == 200, signup.text
        assert not upload.done(), "the upload was still being sent while the signup was served"
        finish.set()
        uploaded = await upload
        assert uploaded.status_code == 200, uploaded.text
