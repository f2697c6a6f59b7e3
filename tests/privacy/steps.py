"""Steps for the privacy tests: finished images through the API, and ageing rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Image, Upload, User
from app.resources import Resources
from tests.generation.steps import first_style_id, generate, run_jobs, upload


async def completed_image(client: httpx.AsyncClient, resources: Resources) -> int:
    selfie = await upload(client)
    response = await generate(client, selfie["file_url"], await first_style_id(client))
    assert response.status_code == 200, response.text
    await run_jobs(resources)
    return int(response.json()["image_id"])


async def image_row(session: AsyncSession, image_id: int) -> Image:
    image = await session.scalar(
        select(Image).where(Image.id == image_id).execution_options(populate_existing=True)
    )
    assert image is not None
    return image


async def user_by_email(session: AsyncSession, email: str) -> User:
    user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    return user


async def age(
    session: AsyncSession, *, days: int, image_id: int | None = None, upload_key: str | None = None
) -> None:
    """Move a row's creation `days` into the past."""
    when = datetime.now(UTC) - timedelta(days=days)
    if image_id is not None:
        await session.execute(update(Image).where(Image.id == image_id).values(created_at=when))
    if upload_key is not None:
        await session.execute(
            update(Upload).where(Upload.key == upload_key).values(created_at=when)
        )
    await session.flush()


async def upload_keys(session: AsyncSession, user_id: int) -> set[str]:
    return set((await session.scalars(select(Upload.key).where(Upload.user_id == user_id))).all())


async def image_ids(session: AsyncSession, user_id: int) -> set[int]:
    return set((await session.scalars(select(Image.id).where(Image.user_id == user_id))).all())
