"""Nothing is left running forever (SPEC §4): overdue jobs are failed and refunded, and jobs
whose worker vanished (its lease ran out) are queued again."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from app.core.config import Settings
from app.core.db import Database
from app.generation.repository import ImageRepository, ImageViewRepository
from app.generation.tasks import GENERATE_IMAGE, GENERATE_VIEWS
from app.generation.worker import GenerationWorker, now_utc
from app.integrations.generator import GenerationFailed
from app.jobs.port import JobQueue

logger = logging.getLogger(__name__)
BATCH = 100


class Sweeper:
    def __init__(
        self, database: Database, worker: GenerationWorker, queue: JobQueue, settings: Settings
    ) -> None:
        self.database = database
        self.worker = worker
        self.queue = queue
        self.settings = settings

    async def resume(self) -> int:
        """At start-up: queue every unfinished job again (claims make duplicates harmless)."""
        async with self.database.unit_of_work(write=False) as session:
            images = ImageRepository(session)
            fronts = await images.resumable_ids(now_utc(), now_utc(), BATCH)
            views = await images.with_views_running(BATCH)
        for image_id in fronts:
            await self.queue.enqueue(GENERATE_IMAGE, image_id)
        for image_id in views:
            await self.queue.enqueue(GENERATE_VIEWS, image_id)
        if fronts or views:
            logger.info("resumed %d generations and %d view sets", len(fronts), len(views))
        return len(fronts) + len(views)

    async def sweep_once(self) -> None:
        now = now_utc()
        timeout = timedelta(seconds=self.settings.GENERATION_TIMEOUT_S)
        async with self.database.unit_of_work(write=False) as session:
            images = ImageRepository(session)
            overdue = await images.overdue_ids(now, BATCH)
            # Pending longer than a lease: its queue message was lost (or the queue is slow;
            # a second message is harmless).
            stale = await images.resumable_ids(now, now - self.worker.lease, BATCH)
            late_views = await ImageViewRepository(session).overdue(now - timeout, BATCH)
        for image_id in overdue:
            await self.worker.fail(image_id, GenerationFailed("GENERATION_TIMEOUT"))
        for view in late_views:
            await self.worker.fail_view(view.image_id, view, "GENERATION_TIMEOUT")
            await self.worker.finish_views(view.image_id)
        for image_id in stale:
            if image_id not in overdue:
                await self.queue.enqueue(GENERATE_IMAGE, image_id)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                logger.exception("sweep failed; trying again next interval")
            await asyncio.sleep(self.settings.SWEEP_INTERVAL_S)
