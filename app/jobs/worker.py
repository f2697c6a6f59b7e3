"""The worker process for Redis mode (`JOB_BROKER_URL=redis://…`), run by `make worker`:

    python -m app.jobs [--max-async-tasks 4] [--handlers module:function]

(app/jobs/__main__.py configures this project's logging, JSON in production, before anything
is imported or logs, then calls `main()` here; Logfire is configured when LOGFIRE_TOKEN is set).

One process, one event loop, up to `--max-async-tasks` jobs at once; run more processes (or
machines) for more. It is its own runner rather than `taskiq worker` because the taskiq CLI
could not be stopped reliably: `uv run` forwards a terminal's signal that the process group
already delivered, taskiq's handler sets an asyncio event from a plain signal handler (the
loop does not wake for it) and then waits for running jobs without a bound, and its process
manager restarts a worker that exits at start-up forever. Here:

- SIGTERM and SIGINT are handled on the event loop; the first stops taking messages, running
  jobs get `JOB_STOP_GRACE_S` to finish, then they are cancelled and the process exits 0.
  Their messages were never acknowledged, so another worker runs them again after
  `JOB_REDELIVER_AFTER_S` (a cancelled job gives its lease back, so that one can claim it at
  once). A repeated signal (the duplicate from `uv run`) changes nothing.
- SIGUSR1 writes every asyncio task's chain of awaits to the log (`kill -USR1 <pid>`): what a
  worker that does not stop, or does not take jobs, is waiting on. Thread stacks alone show
  only an idle event loop in `select()`.
- Without `JOB_BROKER_URL` it prints one line and exits 2 (a supervisor sees a configuration
  error, not a crash to retry).
- Restarts belong to the supervisor (compose `restart:`, systemd): a crash is a crash.

`create_broker()` stays for callers that build the broker themselves (tests); it configures no
logging (the runner did, once).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import inspect
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskiq import AsyncBroker, TaskiqEvents, TaskiqState
from taskiq.receiver import Receiver

from app.core.config import Settings, get_settings
from app.core.memory import return_large_allocations_to_os
from app.core.telemetry import configure_logfire
from app.jobs.broker import RUNNING_JOBS, TaskiqJobQueue, build_broker
from app.jobs.port import JobHandlers
from app.jobs.redis_stream import JobStreamBroker

if TYPE_CHECKING:
    # Imported when the worker starts: a worker that refuses to start (no broker) imports
    # none of the app, and says only its one line.
    from app.resources import Resources

logger = logging.getLogger(__name__)

HandlersFactory = Callable[["Resources"], JobHandlers]

# "module:function" of the factory the worker builds its handlers with; imported when the
# worker starts, so this module does not depend on the generation package.
HANDLERS_FACTORY = "app.generation.handlers:build_handlers"
DEFAULT_MAX_ASYNC_TASKS = 4
# Exit status for "not configured to run" (sysexits' EX_USAGE is 64; 2 is what argparse and
# most CLIs use for a usage error).
EXIT_NOT_CONFIGURED = 2
NO_BROKER_MESSAGE = (
    "hairtryon worker: JOB_BROKER_URL is not set; set JOB_BROKER_URL=redis://… to run job "
    "workers (without it jobs run inside the API process)"
)


class NotConfigured(RuntimeError):
    """The worker cannot run with these settings (no broker URL)."""


def create_broker(
    handlers_factory: HandlersFactory | str = HANDLERS_FACTORY,
    *,
    settings: Settings | None = None,
) -> AsyncBroker:
    """The worker's broker: Redis from the settings, with the handlers registered on start."""
    settings = settings or get_settings()
    url = settings.JOB_BROKER_URL
    if not url:
        raise NotConfigured(NO_BROKER_MESSAGE)
    broker = build_broker(url, redeliver_after_s=settings.JOB_REDELIVER_AFTER_S)
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
        from app.resources import Resources

        factory = (
            load_handlers_factory(handlers_factory)
            if isinstance(handlers_factory, str)
            else handlers_factory
        )
        resources = Resources.build(settings or get_settings())
        await resources.start(jobs=False)
        started.append(resources)
        # Registered before the receiver reads its first message: the worker runs these
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


async def run_worker(broker: AsyncBroker, *, max_async_tasks: int, stop_grace_s: float) -> None:
    """Take jobs until SIGTERM/SIGINT, then give running jobs `stop_grace_s` and stop."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stopping.is_set():
            logger.info("job worker: %s again; already stopping", signal.Signals(signum).name)
            return
        logger.info(
            "job worker: %s; taking no new jobs, waiting up to %.0f s for running ones",
            signal.Signals(signum).name,
            stop_grace_s,
        )
        stopping.set()
        if isinstance(broker, JobStreamBroker):
            broker.stop_listening()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    loop.add_signal_handler(signal.SIGUSR1, _log_task_awaits)
    broker.is_worker_process = True
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            await broker.startup()
            receiver = Receiver(
                broker=broker,
                executor=pool,
                max_async_tasks=max_async_tasks,
                run_startup=False,
                # Errors are the handlers' to log and record (app.jobs.broker._logged).
                propagate_exceptions=False,
                wait_tasks_timeout=stop_grace_s,
            )
            await receiver.listen(stopping)
        finally:
            await _cancel_leftover_jobs(broker)
            with contextlib.suppress(TimeoutError):
                # Closing connections is quick; a hung Redis must not keep the process alive.
                await asyncio.wait_for(broker.shutdown(), timeout=max(stop_grace_s, 5.0))
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                loop.remove_signal_handler(signum)


def _log_task_awaits() -> None:
    tasks = asyncio.all_tasks()
    logger.warning("job worker: SIGUSR1; %d asyncio tasks, each outermost await first", len(tasks))
    for task in tasks:
        logger.warning(
            "job worker: task %s (cancel requests %d): %s",
            task.get_name(),
            task.cancelling(),
            _await_chain(task),
        )


def _await_chain(task: asyncio.Task[Any]) -> str:
    """Each coroutine or async generator the task is suspended in, outermost first, down to
    what it waits for. (`Task.print_stack` shows only the outermost frame.)"""
    steps = []
    awaited: object = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is not None:
            code = frame.f_code
            steps.append(f"{Path(code.co_filename).name}:{frame.f_lineno} in {code.co_name}")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
            continue
        # What `anext()` returns hides its generator from Python; the collector still sees it.
        generators = [g for g in gc.get_referents(awaited) if inspect.isasyncgen(g)]
        if generators:
            awaited = generators[0]
            continue
        steps.append(f"waiting for {type(awaited).__name__}")
        break
    return " > ".join(steps)


async def _cancel_leftover_jobs(broker: AsyncBroker) -> None:
    """The jobs still running past the grace: cancelled (they give their leases back) and
    left unacknowledged, so they are delivered again."""
    jobs = [task for task in RUNNING_JOBS if not task.done()]
    if not jobs:
        return
    if isinstance(broker, JobStreamBroker):
        broker.abandon_running()
    logger.warning("job worker: %d jobs still running; they will be delivered again", len(jobs))
    for task in jobs:
        task.cancel()
    await asyncio.wait(jobs, timeout=5.0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.jobs", description=__doc__)
    parser.add_argument("--max-async-tasks", type=int, default=DEFAULT_MAX_ASYNC_TASKS)
    parser.add_argument("--handlers", default=HANDLERS_FACTORY, help="module:function")
    args = parser.parse_args(argv)
    return_large_allocations_to_os()  # decoded images and hashes are freed back (core/memory)
    settings = get_settings()
    try:
        broker = create_broker(args.handlers, settings=settings)
    except NotConfigured as exc:
        print(exc, file=sys.stderr)
        return EXIT_NOT_CONFIGURED
    configure_logfire(settings, "hairtryon-worker")
    asyncio.run(
        run_worker(
            broker,
            max_async_tasks=max(1, args.max_async_tasks),
            stop_grace_s=settings.JOB_STOP_GRACE_S,
        )
    )
    logger.info("job worker stopped")
    return 0
