"""Real worker processes on a Redis of the tests' own.

`redis_url` (tests/conftest.py) is this run's private redis-server: tests never touch a Redis
they did not start (127.0.0.1:6379 belongs to the machine). `start_worker` starts
`python -m app.jobs` processes, as `make worker` does, against it and the test database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from app.core.config import PROJECT_ROOT
from tests.conftest import migrated_database

# Far beyond the stop grace the tests give (JOB_STOP_GRACE_S=2): a bound, not a measurement.
STOP_BOUND_S = 45


@dataclass
class Worker:
    """A `python -m app.jobs` process (what `make worker` runs), in its own group."""

    process: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def ready(self) -> bool:
        return "job worker ready" in self.log()

    async def kill(self) -> None:
        """SIGKILL the whole process group: the machine dies, no shutdown code runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM, as a supervisor stops it. A worker still running after STOP_BOUND_S is a
        bug: the test fails with the worker's log, where the worker wrote what each of its
        asyncio tasks awaits (SIGUSR1) and the stack of every thread (SIGABRT makes
        faulthandler, on in every worker, write them there)."""
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout=STOP_BOUND_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGUSR1)
            await asyncio.sleep(1.0)  # time to write the tasks; not a measurement
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGABRT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), timeout=5)
            await self.kill()
            pytest.fail(f"the worker did not stop within {STOP_BOUND_S} s; its log:\n{self.log()}")


StartWorker = Callable[..., Awaitable[Worker]]


@pytest.fixture(scope="package")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A migrated database of these tests' own, not the session's. Worker processes claim any
    free job in the database they are given, and so does every other process on it: the
    session's live server (an API process with its embedded queue and sweeper) claimed a job
    of these tests whose lease had lapsed, could not find its photo and failed it after one
    attempt. Only the processes these tests start work here."""
    async with migrated_database(tmp_path_factory, "jobs") as url:
        yield url


@pytest.fixture
def worker_env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment a worker process gets: the test database, the test Redis, short
    windows so that recovery shows within seconds."""
    return {
        **os.environ,
        "ENV": "dev",
        "LOG_LEVEL": "INFO",
        "JOB_BROKER_URL": redis_url,
        "DATABASE_URL": database_url,
        "MAIL_DIR": str(tmp_path / "mail"),
        "MEDIA_DIR": str(tmp_path / "media"),
        "RATE_LIMIT_ENABLED": "false",
        "JOB_REDELIVER_AFTER_S": "1",
        "JOB_LEASE_S": "1",
        "JOB_STOP_GRACE_S": "2",
        "PAYMENTS_RECONCILE_INTERVAL_S": "0",
        # A worker that hangs shows where: SIGABRT (Worker.stop) dumps every thread's stack.
        "PYTHONFAULTHANDLER": "1",
    }


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the test Redis, emptied first (the server lives for the session)."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def start_worker(worker_env: dict[str, str], tmp_path: Path, redis: Redis) -> Iterator[StartWorker]:
    started: list[Worker] = []

    async def start(handlers: str | None = None, *, max_async_tasks: int = 4, **env: str) -> Worker:
        log_path = tmp_path / f"worker-{len(started)}.log"
        options = ("--handlers", handlers) if handlers else ()
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                # `python -m app.jobs` as `make worker` runs it, on this interpreter.
                *(sys.executable, "-m", "app.jobs"),
                *("--max-async-tasks", str(max_async_tasks), *options),
                cwd=str(PROJECT_ROOT),
                env={**worker_env, **env},
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log_path)
        started.append(worker)
        return worker

    yield start
    # Whatever a failed test left behind.
    for worker in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)


async def wait_until(
    condition: Callable[[], Awaitable[object]],
    what: str,
    *workers: Worker,
    within_s: float = 30.0,
) -> None:
    """Poll `condition`; a bound on waiting (the test fails with the workers' logs), not a
    measurement."""
    deadline = time.monotonic() + within_s
    while not await condition():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {w.log_path.name}\n{w.log()}" for w in workers)
            pytest.fail(f"{what} did not happen within {within_s} s; logs:\n{logs}")
        await asyncio.sleep(0.05)


async def worker_ready(worker: Worker) -> bool:
    return worker.ready
