from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.resources import Resources
from app.files.retention import purge_uploads_older_than
from app.models import Upload, UploadStatus
from tests.factories import create_user
from tests.files.images import jpeg


async def test_purge_removes_old_uploads_and_their_objects_only(
    session: AsyncSession, resources: Resources
) -> None:
    user = await create_user(session)
    storage = resources.storage
    for key in ("uploads/user_1/old.jpg", "uploads/user_1/new.jpg"):
        await storage.put(key, jpeg(), "image/jpeg")
        session.add(
            Upload(user_id=user.id, key=key, status=UploadStatus.READY, content_type="image/jpeg")
        )
    await session.flush()
    later = datetime.now(UTC) + timedelta(days=31)
    new = await session.scalar(select(Upload).where(Upload.key == "uploads/user_1/new.jpg"))
    assert new is not None
    new.created_at = later - timedelta(days=1)
    await session.flush()

    purged = await purge_uploads_older_than(resources.database, storage, days=30, now=later)

    # Other tests' committed uploads (end-to-end runs) may be purged too; count ours.
    assert purged >= 1
    assert not await storage.exists("uploads/user_1/old.jpg")
    assert await storage.exists("uploads/user_1/new.jpg")
    ours = {"uploads/user_1/old.jpg", "uploads/user_1/new.jpg"}
    remaining = set((await session.scalars(select(Upload.key).where(Upload.key.in_(ours)))).all())
    assert remaining == {"uploads/user_1/new.jpg"}
