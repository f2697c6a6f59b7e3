"""The generation job handlers, by task name, for whichever process runs the jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.generation.tasks import GENERATE_IMAGE, GENERATE_VIEWS
from app.generation.worker import GenerationWorker
from app.jobs.port import JobHandlers

if TYPE_CHECKING:
    from app.resources import Resources


def build_worker(resources: Resources) -> GenerationWorker:
    return GenerationWorker(
        resources.database, resources.storage, resources.generator, resources.settings
    )


def build_handlers(resources: Resources) -> JobHandlers:
    worker = build_worker(resources)
    return {GENERATE_IMAGE: worker.run_generation, GENERATE_VIEWS: worker.run_views}
