"""UPLOAD_RETENTION_DAYS and a haircut from a photo: the reference upload is in use, like the
selfie, while its image exists (the history would otherwise lose what was tried)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.files.retention import purge_uploads_older_than
from app.models import Image, ImageStatus, Upload, UploadStatus
from app.resources import Resources
from tests.factories import create_user
from tests.files.images import jpeg

LATER = datetime.now(UTC) + timedelta(days=31)


async def test_purge_keeps_a_reference_photo_while_its_image_exists(
    session: AsyncSession, resources: Resources
) -> None:
    user = await create_user(session)
    keys = [f"uploads/user_{user.id}/{name}.jpg" for name in ("selfie", "cut", "unused")]
    for key in keys:
        await resources.storage.put(key, jpeg(), "image/jpeg")
        session.add(
            Upload(user_id=user.id, key=key, status=UploadStatus.READY, content_type="image/jpeg")
        )
    selfie, cut, unused = keys
    image = Image(
        user_id=user.id,
        style_name="Haircut from a photo",
        description="From a photo.",
        input_key=selfie,
        reference_key=cut,
        status=ImageStatus.COMPLETED,
        deadline_at=datetime.now(UTC),
    )
    session.add(image)
    await session.flush()

    await purge_uploads_older_than(resources.database, resources.storage, days=30, now=LATER)

    remaining = set(await session.scalars(select(Upload.key).where(Upload.key.in_(keys))))
    assert remaining == {selfie, cut}
    assert await resources.storage.exists(cut)
    assert not await resources.storage.exists(unused)
