"""The handlers a real worker process runs in the Redis tests, and its broker for the CLI:

    python -m taskiq worker tests.jobs.worker_app:create_broker --workers 1 --max-async-tasks 4

Everything but the handlers is production's `app.jobs.worker.create_broker`: settings from the
environment, resources built on worker start, the Redis stream broker. The handlers leave their
traces in Redis (the broker's own database), where the test process reads them.
"""

from __future__ import annotations

import asyncio
import json
import os

from redis.asyncio import Redis
from taskiq import AsyncBroker, TaskiqEvents, TaskiqState

from app.jobs import worker
from app.jobs.port import JobHandlers
from app.resources import Resources

# Short, so that the tests see a dead worker's job redelivered within seconds; production's
# is `app.jobs.broker.REDELIVER_AFTER_S`.
REDELIVER_AFTER_S = 1.0
# A job that outlives this many redelivery windows on a live worker must still run once.
SLOW_JOB_WINDOWS = 3
JOB_NAMES = ("record", "hang_once", "outlive_the_window")


def create_broker() -> AsyncBroker:
    broker = worker.create_broker(build_handlers, redeliver_after_s=REDELIVER_AFTER_S)
    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, _count_ready_worker)
    return broker


async def _count_ready_worker(_state: TaskiqState) -> None:
    """Runs after the worker built its resources and handlers, just before it listens."""
    async with _redis() as redis:
        await redis.incr("workers_ready")


def _redis() -> Redis:
    return Redis.from_url(os.environ["JOB_BROKER_URL"])


def build_handlers(resources: Resources) -> JobHandlers:
    async def record(job_id: int, *more: int) -> None:
        """Counts its runs and notes what it ran with, where, and on which resources."""
        async with _redis() as redis:
            await redis.incr(f"runs:{job_id}")
            await redis.set(f"args:{job_id}", json.dumps([job_id, *more]))
            await redis.set(f"pid:{job_id}", os.getpid())
            await redis.set(f"database:{job_id}", resources.settings.DATABASE_URL)

    async def hang_once(job_id: int) -> None:
        """Hangs on its first delivery (the test kills the worker then); finishes on the next."""
        async with _redis() as redis:
            if await redis.incr(f"starts:{job_id}") == 1:
                await asyncio.sleep(3600)
            await redis.set(f"finished:{job_id}", 1)

    async def outlive_the_window(job_id: int) -> None:
        async with _redis() as redis:
            await redis.incr(f"starts:{job_id}")
            await asyncio.sleep(SLOW_JOB_WINDOWS * REDELIVER_AFTER_S)
            await redis.set(f"finished:{job_id}", 1)

    handlers: JobHandlers = {
        "record": record,
        "hang_once": hang_once,
        "outlive_the_window": outlive_the_window,
    }
    assert tuple(handlers) == JOB_NAMES
    return handlers
