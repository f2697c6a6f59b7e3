"""DB-01 for the retention purge: it runs by itself in every API process, so while it deletes
objects from storage (S3 calls, one or more per file) no transaction of it may be open: on
SQLite that would be the database's write lock, and every signup and generate would wait."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from app.core.config import Settings
from app.core.db import Database
from app.integrations.storage.local import LocalStorage
from app.models import Image, ImageStatus, Upload, UploadStatus, User
from app.privacy.purge import RetentionPurger
from tests.conftest import run_alembic
from tests.factories import create_image, create_user


class _WritesWhileDeleting(LocalStorage):
    """Local storage whose every delete first lets another unit of work write and commit: the
    purge's own transaction, held across the delete, would keep it waiting."""

    def __init__(self, root: Path, database: Database) -> None:
        super().__init__(root, "http://testserver", b"purge-lock-test-key-0123456789ab")
        self.database = database
        self.writes = 0

    async def delete(self, key: str) -> None:
        await asyncio.wait_for(self._commit_elsewhere(), timeout=10)
        await super().delete(key)

    async def _commit_elsewhere(self) -> None:
        async with self.database.unit_of_work(write=False) as session:
            await session.execute(text("UPDATE users SET name = name"))
        self.writes += 1


async def test_db01_the_retention_purge_holds_no_transaction_while_it_deletes_objects(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'purge.db'}"
    await run_alembic(url, "head")
    database = Database.from_url(url)
    try:
        storage = _WritesWhileDeleting(tmp_path / "media", database)
        old = datetime.now(UTC) - timedelta(days=40)
        async with database.unit_of_work() as session:
            user = await create_user(session)
            user.retention_days = 30
            image = await create_image(session, user_id=user.id, status=ImageStatus.COMPLETED)
            image.output_key = f"generated/user_{user.id}/{image.id}/front.jpg"
            image.created_at = old
            session.add(
                Upload(
                    user_id=user.id,
                    key=f"uploads/user_{user.id}/old.jpg",
                    status=UploadStatus.READY,
                    content_type="image/jpeg",
                    created_at=old,
                )
            )
            user_id = user.id
            # Someone without a window: their old unused upload goes by UPLOAD_RETENTION_DAYS.
            bystander = await create_user(session)
            session.add(
                Upload(
                    user_id=bystander.id,
                    key=f"uploads/user_{bystander.id}/old.jpg",
                    status=UploadStatus.READY,
                    content_type="image/jpeg",
                    created_at=old,
                )
            )
            bystander_id = bystander.id
        settings = Settings(_env_file=None, ENV="dev", DATABASE_URL=url, UPLOAD_RETENTION_DAYS=30)
        purger = RetentionPurger.from_settings(settings, database, storage)

        assert await purger.purge_once()

        assert storage.writes >= 3  # the image's output and the two uploads
        async with database.unit_of_work(write=False) as session:
            left = await session.scalar(
                select(func.count())
                .select_from(Upload)
                .where(Upload.user_id.in_([user_id, bystander_id]))
            )
            assert left == 0
            assert await session.scalar(select(func.count()).select_from(Image)) == 0
            assert await session.get(User, user_id) is not None
    finally:
        await database.dispose()
