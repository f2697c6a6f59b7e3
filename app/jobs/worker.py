"""The worker process for Redis mode (`JOB_BROKER_URL=redis://…`), run by `make worker`:

    python -m app.jobs --workers 1 --max-async-tasks 4

(which runs `taskiq worker app.jobs.worker:create_broker …` with our logging in place).

taskiq's CLI calls `create_broker()` in each worker process it starts (a factory rather than a
module-level broker: importing this module reads no settings and connects nothing). The
process's resources (database, storage, generator) are built once, when the worker starts
(`WORKER_STARTUP`), and closed when it stops; the handlers are built from them then.

`--workers` is the number of processes and `--max-async-tasks` the jobs each runs at once. The
CLI's parent process restarts a worker process that dies; a job it was running is delivered
again once `REDELIVER_AFTER_S` has passed.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from taskiq import AsyncBroker, TaskiqEvents, TaskiqState

from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.core.telemetry import configure_logfire
from app.jobs.broker import REDELIVER_AFTER_S, TaskiqJobQueue, build_broker
from app.jobs.port import JobHandlers
from app.resources import Resources

logger = logging.getLogger(__name__)

HandlersFactory = Callable[[Resources], JobHandlers]

# "module:function" of the factory the worker builds its handlers with; imported when the
# worker starts, so this module does not depend on the generation package.
HANDLERS_FACTORY = "app.generation.handlers:build_handlers"


def create_broker(
    handlers_factory: HandlersFactory | str = HANDLERS_FACTORY,
    *,
    redeliver_after_s: float = REDELIVER_AFTER_S,
) -> AsyncBroker:
    """The worker's broker: Redis from the settings, with the handlers registered on start."""
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.LOG_LEVEL)
    configure_logfire(settings, "hairtryon-worker")
    url = settings.JOB_BROKER_URL
    if not url:
        raise RuntimeError(
            "the job worker needs JOB_BROKER_URL=redis://…; without it jobs run in the API process"
        )
    broker = build_broker(url, redeliver_after_s=redeliver_after_s)
    register_handlers(broker, handlers_factory, settings=settings)
    return broker


def register_handlers(
    broker: AsyncBroker,
    handlers_factory: HandlersFactory | str,
    *,
    settings: Settings | None = None,
) -> None:
    """On worker start, build the resources and register `handlers_factory(resources)` as
    tasks; on worker stop, close the resources.

    For worker processes only: an in-memory broker fires worker events in the API process,
    which has its own resources and uses `TaskiqJobQueue(broker, handlers)` instead.
    """
    started: list[Resources] = []

    async def start(_state: TaskiqState) -> None:
        factory = (
            load_handlers_factory(handlers_factory)
            if isinstance(handlers_factory, str)
            else handlers_factory
        )
        resources = Resources.build(settings or get_settings())
        await resources.start(jobs=False)
        started.append(resources)
        # Registered before the receiver reads its first message: taskiq's worker runs these
        # events in `broker.startup()`, ahead of `broker.listen()`.
        handlers = factory(resources)
        # Registers the tasks, and is the queue handlers re-queue through (a throttled job).
        resources.job_queue = TaskiqJobQueue(broker, handlers)
        names = sorted(handlers)
        logger.info("job worker ready for %s", ", ".join(names) or "no jobs")

    async def stop(_state: TaskiqState) -> None:
        while started:
            resources = started.pop()
            # The broker is taskiq's to shut down (it is running this very event); delayed
            # re-queues still waiting are lost with the process and resumed by the sweeper.
            resources.job_queue = None
            await resources.close()

    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, start)
    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, stop)


def load_handlers_factory(path: str) -> HandlersFactory:
    module_name, _, attribute = path.partition(":")
    if not (module_name and attribute):
        raise ValueError(f"handlers factory must be 'module:function', got {path!r}")
    factory = getattr(importlib.import_module(module_name), attribute)
    if not callable(factory):
        raise TypeError(f"{path} is not callable")
    return factory  # type: ignore[no-any-return]
