"""Background jobs: the `JobQueue` port here; its taskiq adapter in `app.jobs.broker`, the
Redis worker process in `app.jobs.worker`."""

from app.jobs.port import JobHandler, JobHandlers, JobQueue, UnknownJob
from app.jobs.taskiq_admin import skip_taskiq_admin_client

# Before any module of this package imports taskiq (they all live here).
skip_taskiq_admin_client()

__all__ = ["JobHandler", "JobHandlers", "JobQueue", "UnknownJob"]
