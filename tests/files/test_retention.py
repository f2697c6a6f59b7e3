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


async def _old_upload(
    session: AsyncSession, resources: Resources, user_id: int, key: str, **extra: str
) -> Upload:
    await resources.storage.put(key, jpeg(), "image/jpeg")
    upload = Upload(
        user_id=user_id, key=key, status=UploadStatus.READY, content_type="image/jpeg", **extra
    )
    session.add(upload)
    await session.flush()
    return upload


async def _remaining(session: AsyncSession, keys: set[str]) -> set[str]:
    return set((await session.scalars(select(Upload.key).where(Upload.key.in_(keys)))).all())


async def test_purge_removes_old_uploads_and_their_objects_only(
    session: AsyncSession, resources: Resources
) -> None:
    user = await create_user(session)
    storage = resources.storage
    for key in ("uploads/user_1/old.jpg", "uploads/user_1/new.jpg"):
        await _old_upload(session, resources, user.id, key)
    new = await session.scalar(select(Upload).where(Upload.key == "uploads/user_1/new.jpg"))
    assert new is not None
    new.created_at = LATER - timedelta(days=1)
    await session.flush()

    purged = await purge_uploads_older_than(resources.database, storage, days=30, now=LATER)

    # Other tests' committed uploads (end-to-end runs) may be purged too; count ours.
    assert purged >= 1
    assert not await storage.exists("uploads/user_1/old.jpg")
    assert await storage.exists("uploads/user_1/new.jpg")
    ours = {"uploads/user_1/old.jpg", "uploads/user_1/new.jpg"}
    assert await _remaining(session, ours) == {"uploads/user_1/new.jpg"}


async def test_purge_keeps_uploads_in_use_as_profile_picture_or_image_input(
    session: AsyncSession, resources: Resources
) -> None:
    """The user would lose their avatar and the "before" photo of every image they kept
    (gallery, share page, recent uploads); those stay until nothing uses them."""
    user = await create_user(session)
    storage = resources.storage
    avatar = await _old_upload(session, resources, user.id, "uploads/user_1/avatar.jpg")
    selfie = await _old_upload(session, resources, user.id, "uploads/user_1/selfie.jpg")
    unused = await _old_upload(session, resources, user.id, "uploads/user_1/unused.jpg")
    user.userpic = avatar.key
    image = Image(
        user_id=user.id,
        style_name="Bob",
        description="A bob.",
        input_key=selfie.key,
        status=ImageStatus.COMPLETED,
        deadline_at=datetime.now(UTC),
    )
    session.add(image)
    await session.flush()
    keys = {avatar.key, selfie.key, unused.key}

    await purge_uploads_older_than(resources.database, storage, days=30, now=LATER)

    assert await _remaining(session, keys) == {avatar.key, selfie.key}
    assert await storage.exists(avatar.key)
    assert await storage.exists(selfie.key)
    assert not await storage.exists(unused.key)

    # Once the image is gone and the avatar changed, the next purge takes them.
    await session.delete(image)
    user.userpic = None
    await session.flush()
    await purge_uploads_older_than(resources.database, storage, days=30, now=LATER)
    assert await _remaining(session, keys) == set()
    assert not await storage.exists(selfie.key)


async def test_purge_removes_the_posted_object_of_a_presigned_upload_too(
    session: AsyncSession, resources: Resources
) -> None:
    user = await create_user(session)
    upload = await _old_upload(
        session,
        resources,
        user.id,
        "uploads/user_1/checked.jpg",
        presigned_key="uploads/user_1/posted.jpg",
    )
    await resources.storage.put("uploads/user_1/posted.jpg", jpeg(), "image/jpeg")

    await purge_uploads_older_than(resources.database, resources.storage, days=30, now=LATER)

    assert await _remaining(session, {upload.key}) == set()
    assert not await resources.storage.exists("uploads/user_1/posted.jpg")
    assert not await resources.storage.exists("uploads/user_1/checked.jpg")
