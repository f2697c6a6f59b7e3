"""The handlers a real worker process runs in the Redis tests:

    python -m app.jobs --handlers tests.jobs.worker_app:build_handlers

Everything but the handlers is production's worker: settings from the environment, resources
built on worker start, the Redis stream broker, the signal handling. The handlers leave their
traces in Redis (the broker's own database), where the test process reads them.
"""

from __future__ import annotations

import asyncio
import json
import os

from redis import Redis as SyncRedis
from redis.asyncio import Redis

from app.jobs.port import JobHandlers
from app.resources import Resources

HANDLERS = "tests.jobs.worker_app:build_handlers"
# The redelivery window the tests' workers get (JOB_REDELIVER_AFTER_S in their environment).
REDELIVER_AFTER_S = 1.0
# A job that outlives this many redelivery windows on a live worker must still run once.
SLOW_JOB_WINDOWS = 3
JOB_NAMES = ("record", "hang_once", "outlive_the_window", "hang")


def _redis() -> Redis:
    return Redis.from_url(os.environ["JOB_BROKER_URL"])


def build_handlers(resources: Resources) -> JobHandlers:
    # Runs when the worker starts, after its resources were built, before it listens.
    with SyncRedis.from_url(os.environ["JOB_BROKER_URL"]) as redis:
        redis.incr("workers_ready")

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

    async def hang(job_id: int) -> None:
        """Never finishes by itself: only a stopping worker ends it (cancelled)."""
        async with _redis() as redis:
            await redis.incr(f"starts:{job_id}")
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                await redis.incr(f"cancelled:{job_id}")
                raise

    handlers: JobHandlers = {
        "record": record,
        "hang_once": hang_once,
        "outlive_the_window": outlive_the_window,
        "hang": hang,
    }
    assert tuple(handlers) == JOB_NAMES
    return handlers
