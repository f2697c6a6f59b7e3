"""Measuring an accepted upload in the background, so starting a generation only reads the
stored result (the check costs tens to hundreds of milliseconds of CPU per photo)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Database, after_commit
from app.files.exceptions import InvalidImage
from app.integrations.storage import ObjectNotFound, Storage
from app.models import Upload
from app.photos.meter import PhotoMeter
from app.photos.repository import PhotoCheckRepository

logger = logging.getLogger(__name__)


class UploadPrecheck:
    def __init__(
        self, database: Database, storage: Storage, meter: PhotoMeter, settings: Settings
    ) -> None:
        self.database = database
        self.storage = storage
        self.meter = meter
        self.settings = settings

    def on_accepted(self, session: AsyncSession) -> Callable[[Upload], None]:
        """The hook `FileService` calls for each upload it accepts in this unit of work: the
        measurement starts once that unit has committed (a rolled-back upload is not measured)."""

        def accepted(upload: Upload) -> None:
            if self.settings.FACE_CHECK:
                after_commit(session, partial(self.measure, upload.id, upload.key))

        return accepted

    async def measure(self, upload_id: int, key: str) -> None:
        # Measured with no transaction open; stored in a short unit of its own.
        try:
            found = await self.meter.measure_in_background(partial(self.storage.get, key))
        except (InvalidImage, ObjectNotFound):
            # Deleted meanwhile, or unreadable: the next use answers for it.
            logger.info("photo check skipped for upload %s", upload_id)
            return
        async with self.database.unit_of_work(write=False) as session:
            if await session.get(Upload, upload_id) is not None:
                await PhotoCheckRepository(session).store(upload_id, found)
