"""The job queue on taskiq: the brokers, and the `JobQueue` adapter over them.

Two modes, chosen by `JOB_BROKER_URL`:

- unset: `EmbeddedBroker`, taskiq's in-memory broker. Jobs run as tasks of the API process' own
  event loop; starting the API starts the "worker". Nothing survives a restart, which is why the
  API resumes pending/processing rows on start in this mode (`TaskiqJobQueue.runs_in_process`).
- `redis://…` (or `rediss://`, `unix://`): `JobStreamBroker`, a Redis Streams consumer group with
  acknowledged delivery (see `redis_stream.py`). The API only enqueues; `make worker` runs jobs.

Each handler is registered as a taskiq task under its own name (`hairtryon.generate_image`): the
name is what travels in the message, so it must not change while messages for it may be queued.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, Context, InMemoryBroker, TaskiqDepends
from taskiq.exceptions import UnknownTaskError
from taskiq.message import BrokerMessage

from app.core.log_context import log_scope
from app.jobs.port import JobHandler, JobHandlers, UnknownJob

logger = logging.getLogger(__name__)

# The Redis stream and its consumer group; changing either orphans the messages queued under
# the old names.
QUEUE_NAME = "hairtryon:jobs"
CONSUMER_GROUP = "hairtryon:workers"
# Defaults of JOB_REDELIVER_AFTER_S and JOB_STOP_GRACE_S (app/core/config.py), for callers
# without settings. The redelivery window is how long a worker may stay silent before its jobs
# go to another worker. Running jobs are kept alive by a heartbeat, so it bounds crash
# recovery, not job length; it must only exceed the longest time a job could block the
# worker's event loop (which stops heartbeats).
REDELIVER_AFTER_S = 60.0
# Jobs running at once inside the API process. Generation mostly waits on the provider, but
# each job also holds a database connection and image buffers, and shares the event loop
# with requests.
EMBEDDED_CONCURRENCY = 4
# How long stopping the API waits for embedded jobs before cancelling them (the row is left
# pending/processing and the next start resumes it).
EMBEDDED_STOP_GRACE_S = 10.0

_REDIS_SCHEMES = ("redis", "rediss", "unix")

TaskiqJob = AsyncTaskiqDecoratedTask[..., Coroutine[Any, Any, None]]


def build_broker(
    url: str | None,
    *,
    redeliver_after_s: float = REDELIVER_AFTER_S,
    embedded_concurrency: int = EMBEDDED_CONCURRENCY,
    embedded_stop_grace_s: float = EMBEDDED_STOP_GRACE_S,
) -> AsyncBroker:
    """The broker for `JOB_BROKER_URL`: in-process when unset, a Redis stream otherwise."""
    if not url:
        return EmbeddedBroker(
            max_concurrency=embedded_concurrency, stop_grace_s=embedded_stop_grace_s
        )
    scheme = url.partition("://")[0].lower()
    if scheme not in _REDIS_SCHEMES:
        # The scheme only: the URL may carry a password.
        raise ValueError(
            f"JOB_BROKER_URL must be a redis://, rediss:// or unix:// URL, not {scheme}://"
        )
    # Imported only with a Redis URL: redis and taskiq-redis cost ~20 MB per process.
    from app.jobs.redis_stream import JobStreamBroker

    return JobStreamBroker(
        url,
        queue_name=QUEUE_NAME,
        consumer_group_name=CONSUMER_GROUP,
        redeliver_after_s=redeliver_after_s,
    )


class EmbeddedBroker(InMemoryBroker):
    """taskiq's in-memory broker with bounded concurrency and a graceful stop.

    `InMemoryBroker.kick` starts every job at once: its receiver's `max_async_tasks` is only
    applied while listening, which an in-memory broker never does. Jobs are admitted through
    a semaphore here instead, and tracked so that `shutdown` can wait for them, then cancel.
    """

    def __init__(self, *, max_concurrency: int, stop_grace_s: float) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        super().__init__(
            max_async_tasks=max_concurrency,
            # Handlers are coroutines: the pool for sync tasks stays idle.
            sync_tasks_pool_size=1,
            # Results are never read (the row is the job's state); keep as few as allowed.
            max_stored_results=1,
        )
        self.stop_grace_s = stop_grace_s
        self._slots = asyncio.Semaphore(max_concurrency)
        self._jobs: set[asyncio.Task[None]] = set()

    async def kick(self, message: BrokerMessage) -> None:
        if self.find_task(message.task_name) is None:
            raise UnknownTaskError(task_name=message.task_name)
        job = asyncio.get_running_loop().create_task(
            self._run(message), name=f"job {message.task_name}"
        )
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _run(self, message: BrokerMessage) -> None:
        async with self._slots:
            try:
                # The receiver parses the message, casts the ids and calls the task, exactly
                # as a worker process would.
                await self.receiver.callback(message=message.message)
            except Exception:
                # The receiver already catches the task's own errors; this is taskiq failing
                # around it (a middleware, the message format). It must not vanish unlogged.
                logger.exception("job %s could not be run", message.task_name)

    async def wait_all(self) -> None:
        """Wait until no job runs, including jobs enqueued by the jobs awaited."""
        while self._jobs:
            await asyncio.wait(set(self._jobs))

    async def shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_grace_s
        while self._jobs and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._jobs), timeout=remaining)
        if self._jobs:
            logger.warning(
                "stopping with %d jobs running; they are cancelled and resume on the next start",
                len(self._jobs),
            )
            cancelled = set(self._jobs)
            for job in cancelled:
                job.cancel()
            await asyncio.wait(cancelled)
        await super().shutdown()


def register_tasks(broker: AsyncBroker, handlers: JobHandlers) -> dict[str, TaskiqJob]:
    """Register each handler as the taskiq task of the same name; returns them by name."""
    return {
        name: broker.register_task(_logged(name, handler), task_name=name)
        for name, handler in handlers.items()
    }


# The job tasks running in this process: what a worker that stops cancels past its grace.
RUNNING_JOBS: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


def _logged(name: str, handler: JobHandler) -> Callable[..., Coroutine[Any, Any, None]]:
    async def run_job(*ids: int, context: Context = TaskiqDepends()) -> None:  # noqa: B008
        task = asyncio.current_task()
        if task is not None:
            RUNNING_JOBS.add(task)
        # Every line of the job carries its task id and the image it works on (jobs take the
        # image id first; SPEC: jobs carry ids only).
        with log_scope(job=name, job_id=context.message.task_id, image_id=ids[0] if ids else None):
            await _run_logged(*ids)

    async def _run_logged(*ids: int) -> None:
        try:
            await handler(*ids)
        except Exception:
            # The handler owns the row's transitions, failure included; nothing in taskiq acts
            # on an error (no result store is read, the message is acknowledged either way), so
            # the failure is logged here, with the job's name and ids, and goes no further.
            logger.exception("job %s%r failed", name, ids)
        except asyncio.CancelledError:
            logger.warning("job %s%r interrupted by shutdown", name, ids)
            raise

    return run_job


class TaskiqJobQueue:
    """`JobQueue` over a taskiq broker; the same class serves both modes."""

    def __init__(self, broker: AsyncBroker, handlers: JobHandlers) -> None:
        self.broker = broker
        # Registered in the API process in both modes: `enqueue` then refuses unknown names
        # at the caller instead of a worker dropping the message later.
        self._tasks = register_tasks(broker, handlers)
        self._timers: set[asyncio.Task[None]] = set()

    @property
    def runs_in_process(self) -> bool:
        """Jobs run in this process and are lost when it stops (resume them on start)."""
        return isinstance(self.broker, InMemoryBroker)

    async def enqueue(self, task_name: str, *args: int) -> None:
        task = self._tasks.get(task_name)
        if task is None:
            raise UnknownJob(task_name)
        # Ids only: an ORM object (or a bool, which JSON keeps as a bool) is a bug to surface.
        if not all(type(arg) is int for arg in args):
            raise TypeError(f"job arguments must be int ids, got {args!r}")
        await task.kiq(*args)

    async def enqueue_later(self, delay_s: float, task_name: str, *args: int) -> None:
        if task_name not in self._tasks:
            raise UnknownJob(task_name)

        async def later() -> None:
            await asyncio.sleep(max(0.0, delay_s))
            try:
                await self.enqueue(task_name, *args)
            except Exception:
                # The row is still pending: the sweeper queues it again.
                logger.exception("could not queue %s%r after its delay", task_name, args)

        # A timer in this process, not a waiting job: no worker slot is held meanwhile.
        timer = asyncio.get_running_loop().create_task(later(), name=f"later {task_name}")
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    async def start(self) -> None:
        await self.broker.startup()

    async def stop(self) -> None:
        for timer in list(self._timers):
            timer.cancel()
        await self.broker.shutdown()

    async def drain(self) -> None:
        """Wait for the jobs running in this process (none in Redis mode); for tests."""
        if isinstance(self.broker, EmbeddedBroker):
            await self.broker.wait_all()
