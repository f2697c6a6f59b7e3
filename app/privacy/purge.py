"""The periodic purge: every person's own retention window, and UPLOAD_RETENTION_DAYS, applied
without anyone running a command.

Every API and worker process runs the loop; one process of the deployment at a time does a
pass (`held_alone`, the sweeper's lock mechanism: a PostgreSQL advisory lock; SQLite is one
process). A pass is idempotent, so a pass after a crash or two passes at once only repeat
deletions of what is already gone.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from app.core.config import Settings
from app.core.db import Database
from app.core.locks import held_alone
from app.files.retention import purge_uploads_older_than
from app.generation.result_keys import ResultKeys
from app.integrations.storage import Storage
from app.privacy.erasure import Erased, Eraser
from app.privacy.repository import PrivacyRepository

logger = logging.getLogger(__name__)
LOCK_NAME = "retention-purge"
USERS_PER_PAGE = 200


class RetentionPurger:
    def __init__(
        self,
        database: Database,
        storage: Storage,
        result_keys: ResultKeys,
        *,
        interval_s: float,
        upload_retention_days: int | None,
    ) -> None:
        self.database = database
        self.storage = storage
        self.eraser = Eraser(database, storage, result_keys)
        self.interval_s = interval_s
        self.upload_retention_days = upload_retention_days
        self.passes = 0
        self._pass_done = asyncio.Condition()

    @classmethod
    def from_settings(
        cls, settings: Settings, database: Database, storage: Storage
    ) -> RetentionPurger:
        return cls(
            database,
            storage,
            ResultKeys.from_settings(settings),
            interval_s=settings.RETENTION_PURGE_INTERVAL_S,
            upload_retention_days=settings.UPLOAD_RETENTION_DAYS,
        )

    async def purge_once(self, now: datetime | None = None) -> bool:
        """One pass, if no other process is doing one; True when this process purged."""
        async with held_alone(self.database, LOCK_NAME) as alone:
            if not alone:
                return False
            await self._purge(now or datetime.now(UTC))
            return True

    async def _purge(self, now: datetime) -> None:
        erased = Erased()
        after = 0
        while True:
            async with self.database.unit_of_work(write=False) as session:
                windows = await PrivacyRepository(session).retention_windows(after, USERS_PER_PAGE)
            for user_id, days in windows:
                erased += await self.eraser.erase(
                    user_id, created_before=now - timedelta(days=days)
                )
            if len(windows) < USERS_PER_PAGE:
                break
            after = windows[-1][0]
        unused = 0
        if self.upload_retention_days is not None:
            unused = await purge_uploads_older_than(
                self.database, self.storage, self.upload_retention_days, now=now
            )
        if erased.images or erased.uploads or unused:
            logger.info(
                "retention purge removed %d images and %d uploads past their owners' windows, "
                "and %d unused uploads past UPLOAD_RETENTION_DAYS",
                erased.images,
                erased.uploads,
                unused,
            )

    async def wait_for_passes(self, count: int) -> None:
        """Until `count` passes have finished (tests and diagnostics)."""
        async with self._pass_done:
            await self._pass_done.wait_for(lambda: self.passes >= count)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.purge_once()
            except Exception:
                logger.exception("retention purge failed; trying again next interval")
            async with self._pass_done:
                self.passes += 1
                self._pass_done.notify_all()
            await asyncio.sleep(self.interval_s)
