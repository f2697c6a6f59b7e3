"""A share picture gives its database connection back before its slow part (fetching the
pictures from storage, queueing for the image-work limiter to draw the preview): requests hold a
pooled connection only for their statements, so previews of a public link cannot take the whole
pool (PostgreSQL: DATABASE_POOL_SIZE, no overflow)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.core.config import Settings
from app.core.db import Database, PoolSettings
from app.files.intake import IMAGE_WORK
from app.main import create_app
from app.models import ImageStatus, ShareLink
from app.sharing.tokens import hash_token, new_token
from tests.conftest import build_test_resources
from tests.factories import create_image, create_user
from tests.generation.steps import portrait


async def test_a_waiting_preview_holds_no_pooled_connection(
    database_url: str, settings: Settings
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("the connection pool that can run dry is PostgreSQL's")
    database = Database.from_url(database_url, pool=PoolSettings(size=1, max_overflow=0))
    resources = build_test_resources(settings, database)
    token = new_token()
    async with database.unit_of_work() as session:
        user = await create_user(session)
        image = await create_image(session, user_id=user.id, status=ImageStatus.COMPLETED)
        image.input_key = f"uploads/user_{user.id}/pool-before.jpg"
        image.output_key = f"generated/user_{user.id}/{image.id}/pool-after.jpg"
        session.add(
            ShareLink(
                image_id=image.id,
                token_hash=hash_token(token),
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
        keys = (image.input_key, image.output_key)
    for key in keys:
        await resources.storage.put(key, portrait(), "image/jpeg")
    app = create_app(settings, resources=resources)
    holder = object()
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as client,
        ):
            await IMAGE_WORK.acquire_on_behalf_of(holder)
            try:
                preview = asyncio.create_task(client.get(f"/s/{token}/preview"))
                while IMAGE_WORK.statistics().tasks_waiting == 0:
                    assert not preview.done(), preview.result()
                    await asyncio.sleep(0.01)
                # The only connection is free: the page answers while the preview waits.
                page = await asyncio.wait_for(client.get(f"/s/{token}"), timeout=10)
                assert page.status_code == 200
            finally:
                IMAGE_WORK.release_on_behalf_of(holder)
            assert (await preview).status_code == 200
    finally:
        await database.dispose()
