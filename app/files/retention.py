"""Upload retention: delete uploads older than UPLOAD_RETENTION_DAYS, objects and rows.

Uploads still in use are kept, however old: a profile picture, or the input photo of an image
that still exists (its gallery "before" photo, share page and recent uploads). They are purged
by the first run after nothing uses them any more.

The periodic purge (app/privacy/purge.py, every RETENTION_PURGE_INTERVAL_S in the app's own
processes) runs this by itself; the command runs it at once:

python -m app.files.retention      (make purge-uploads)
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from app.core.config import get_settings
from app.core.db import Database
from app.core.logging import configure_process_logging
from app.files.repository import UploadRepository
from app.integrations.storage import Storage

logger = logging.getLogger(__name__)
BATCH = 200


async def purge_uploads_older_than(
    database: Database, storage: Storage, days: int, now: datetime | None = None
) -> int:
    """Objects first, then rows, batch by batch: a crash leaves rows whose objects are gone
    (deleting a missing object is harmless), never objects nobody can find. No transaction is
    open while storage deletes (DB-01: on SQLite it would be the write lock every writer waits
    on): a batch is read in one short unit and its rows deleted in another, which checks again
    that each is still unused (one put in use meanwhile keeps its row)."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    purged = 0
    after = 0
    while True:
        async with database.unit_of_work(write=False) as session:
            batch = await UploadRepository(session).list_unused_created_before(
                cutoff, BATCH, after_id=after
            )
        for upload in batch:
            await storage.delete(upload.key)
            if upload.presigned_key and upload.presigned_key != upload.key:
                await storage.delete(upload.presigned_key)
        if batch:
            async with database.unit_of_work() as session:
                purged += await UploadRepository(session).delete_unused(
                    [upload.id for upload in batch]
                )
            after = batch[-1].id
        if len(batch) < BATCH:
            return purged


async def _main() -> None:
    # Operator output as log lines: JSON in production like every other line.
    configure_process_logging()
    settings = get_settings()
    if settings.UPLOAD_RETENTION_DAYS is None:
        logger.info("UPLOAD_RETENTION_DAYS is not set: nothing to purge")
        return
    # Imported here: the composition root builds the app, which runs this module's purge.
    from app.wiring import build_storage

    database = Database.from_url(settings.DATABASE_URL)
    try:
        purged = await purge_uploads_older_than(
            database, build_storage(settings), settings.UPLOAD_RETENTION_DAYS
        )
    finally:
        await database.dispose()
    logger.info("purged %d uploads older than %d days", purged, settings.UPLOAD_RETENTION_DAYS)


if __name__ == "__main__":
    asyncio.run(_main())
