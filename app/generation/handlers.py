"""The generation job handlers, by task name, for whichever process runs the jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.generation.predictions import defer_front, defer_view
from app.generation.tasks import GENERATE_IMAGE, GENERATE_VIEWS
from app.generation.worker import GenerationWorker
from app.jobs.port import JobHandlers

if TYPE_CHECKING:
    from app.resources import Resources


def build_worker(resources: Resources) -> GenerationWorker:
    async def defer(delay_s: float, image_id: int, view_id: int | None, token: int) -> None:
        # The queue is read when a job is throttled: a worker process builds it after this.
        lease_s = resources.settings.job_queue_lease_s
        if view_id is None:
            await defer_front(
                resources.database,
                resources.queue,
                image_id,
                delay_s,
                token=token,
                queue_lease_s=lease_s,
            )
        else:
            await defer_view(
                resources.database,
                resources.queue,
                image_id,
                view_id,
                delay_s,
                token=token,
                queue_lease_s=lease_s,
            )

    return GenerationWorker(
        resources.database, resources.storage, resources.generator, resources.settings, defer=defer
    )


def build_handlers(resources: Resources) -> JobHandlers:
    worker = build_worker(resources)
    return {GENERATE_IMAGE: worker.run_generation, GENERATE_VIEWS: worker.run_views}
