"""The web app's upload flow against the real server process with local storage."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from tests.auth.flows import FRONTEND
from tests.e2e.test_accounts_e2e import _signed_up
from tests.files.images import jpeg_with_gps_and_rotation
from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e


async def test_presign_form_post_and_fetch_against_the_real_server(
    live_server: LiveServer,
) -> None:
    async with httpx.AsyncClient(
        base_url=live_server.base_url, headers={"Origin": FRONTEND}, timeout=30
    ) as client:
        await _signed_up(client, live_server.mail_dir)
        presigned = (
            await client.get("/api/v1/files/presign", params={"file_type": "image/jpeg"})
        ).json()
        assert presigned["upload_url"].startswith(live_server.base_url)
        selfie = jpeg_with_gps_and_rotation((160, 100))
        async with httpx.AsyncClient(timeout=30) as browser:
            posted = await browser.post(
                presigned["upload_url"],
                data=presigned["fields"],
                files={"file": ("selfie.jpg", selfie, "image/jpeg")},
            )
            assert posted.status_code == 204, posted.text
            raw = await browser.get(presigned["file_url"])
        assert raw.content == selfie, "the presigned object is served as uploaded"
        # Using it as a profile picture runs the intake: the stored copy loses its GPS.
        used = await client.put("/api/v1/user/profile", json={"userpic_key": presigned["key"]})
        assert used.status_code == 200, used.text
        async with httpx.AsyncClient(timeout=30) as browser:
            checked = await browser.get(used.json()["userpic"])
        image = Image.open(io.BytesIO(checked.content))
        assert image.size == (100, 160)
        assert not image.getexif()
