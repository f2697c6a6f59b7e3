"""Sharing one image twice at once (a double click, two devices) on PostgreSQL: each request
deletes the image's link and adds its own, and the second insert met the first's uncommitted
row in the unique index: IntegrityError, a 500. One link per image must be an upsert."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from tests.auth.flows import Mail, signed_up_and_verified
from tests.conftest import FRONTEND_ORIGIN, build_test_resources
from tests.sharing.test_share_links import _completed_image


async def test_two_shares_of_one_image_at_once_both_answer_and_one_link_stays(
    database_url: str, settings: Settings
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite runs writers one at a time: the race is PostgreSQL's")
    database = Database.from_url(database_url)
    resources = build_test_resources(settings, database)
    app = create_app(settings, resources=resources)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                base_url="http://testserver",
                headers={"Origin": FRONTEND_ORIGIN},
            ) as client,
        ):
            await signed_up_and_verified(client, Mail(settings.MAIL_DIR, database.background))
            image_id = await _completed_image(client, resources)
            url = f"/api/v1/image/{image_id}/share"
            for _ in range(5):
                answers = await asyncio.gather(
                    *(client.post(url, json={"expires_in_hours": 1}) for _ in range(2))
                )
                assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
                live = 0
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://testserver"
                ) as anonymous:
                    for answer in answers:
                        token_path = httpx.URL(answer.json()["url"]).path
                        live += (await anonymous.get(token_path)).status_code == 200
                assert live == 1
    finally:
        await database.background.drain()
        await database.dispose()
