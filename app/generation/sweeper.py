"""Nothing is left running forever (SPEC §4): overdue jobs are failed and refunded, exhausted
ones given up (JOB-07), and jobs whose worker vanished are queued again.

Every API process runs a sweeper; one at a time does a pass (`held_alone`: a PostgreSQL
advisory lock; SQLite is one process). A job is queued again only when nothing will reach it
otherwise: it is free (pending, or processing past its lease) and its queue lease
(`queued_until`, set whenever a message for it is queued) has lapsed. Marking and choosing are
one conditional UPDATE, so even two passes at once (the lock is "try" and a process can pause)
queue each job once per lapsed lease (JOB-08).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from app.core.config import Settings
from app.core.db import Database
from app.core.locks import held_alone
from app.generation.repository import ImageRepository, ImageViewRepository
from app.generation.tasks import GENERATE_IMAGE, GENERATE_VIEWS
from app.generation.worker import GenerationWorker, now_utc
from app.integrations.generator import GenerationFailed
from app.jobs.port import JobQueue

logger = logging.getLogger(__name__)
BATCH = 100
LOCK_NAME = "generation-sweeper"


class Sweeper:
    def __init__(
        self, database: Database, worker: GenerationWorker, queue: JobQueue, settings: Settings
    ) -> None:
        self.database = database
        self.worker = worker
        self.queue = queue
        self.settings = settings

    @property
    def queue_lease(self) -> timedelta:
        return timedelta(seconds=self.settings.job_queue_lease_s)

    async def resume(self) -> int:
        """At start-up of an in-process queue (its messages died with the last process): queue
        every unfinished job again (claims make duplicates harmless)."""
        now = now_utc()
        async with self.database.unit_of_work() as session:
            images = ImageRepository(session)
            fronts = await images.resumable_ids(now, BATCH)
            views = await images.with_views_running(BATCH)
            for image_id in (*fronts, *views):
                await images.mark_queued(image_id, now + self.queue_lease)
        for image_id in fronts:
            await self.queue.enqueue(GENERATE_IMAGE, image_id)
        for image_id in views:
            await self.queue.enqueue(GENERATE_VIEWS, image_id)
        if fronts or views:
            logger.info("resumed %d generations and %d view sets", len(fronts), len(views))
        return len(fronts) + len(views)

    async def sweep_once(self) -> bool:
        """One pass, if no other process is doing one; True when this process swept."""
        async with held_alone(self.database, LOCK_NAME) as alone:
            if not alone:
                return False
            await self._sweep()
            return True

    async def _sweep(self) -> None:
        now = now_utc()
        timeout = timedelta(seconds=self.settings.GENERATION_TIMEOUT_S)
        max_attempts = self.settings.JOB_MAX_ATTEMPTS
        async with self.database.unit_of_work(write=False) as session:
            images = ImageRepository(session)
            overdue = await images.overdue_ids(now, BATCH)
            exhausted = await images.exhausted_ids(now, max_attempts, BATCH)
            late_views = await ImageViewRepository(session).overdue(now - timeout, BATCH)
        for image_id in overdue:
            await self.worker.fail(image_id, GenerationFailed("GENERATION_TIMEOUT"))
        for view in late_views:
            await self.worker.fail_view(view.image_id, view, "GENERATION_TIMEOUT")
            await self.worker.finish_views(view.image_id)
        for image_id in exhausted:
            await self.worker.give_up(image_id)
        async with self.database.unit_of_work() as session:
            images = ImageRepository(session)
            until = now + self.queue_lease
            fronts = await images.requeue_lapsed(now, until, max_attempts, BATCH)
            views = await images.requeue_views_lapsed(now, until, BATCH)
        # Queued after the marks committed: a failed enqueue is retried once the mark lapses.
        for image_id in fronts:
            await self.queue.enqueue(GENERATE_IMAGE, image_id)
        for image_id in views:
            await self.queue.enqueue(GENERATE_VIEWS, image_id)
        if fronts or views:
            logger.info(
                "sweeper queued %d abandoned generations and %d view sets again",
                len(fronts),
                len(views),
            )

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                logger.exception("sweep failed; trying again next interval")
            await asyncio.sleep(self.settings.SWEEP_INTERVAL_S)
