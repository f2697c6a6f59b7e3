"""Background jobs: the `JobQueue` port here; its taskiq adapter in `app.jobs.broker`, the
Redis worker process in `app.jobs.worker`."""

from app.jobs.port import JobHandler, JobHandlers, JobQueue, UnknownJob

__all__ = ["JobHandler", "JobHandlers", "JobQueue", "UnknownJob"]
