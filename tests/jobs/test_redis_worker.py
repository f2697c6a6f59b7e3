"""Redis mode: the test process enqueues as the API does; separate worker processes, started
with the real CLI, run the jobs. Acknowledged delivery means a job whose worker dies is run
again by another, and a job that finishes is not run twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
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
from app.jobs.broker import CONSUMER_GROUP, QUEUE_NAME, TaskiqJobQueue, build_broker
from tests.jobs import worker_app

pytestmark = pytest.mark.slow

WAIT_S = 15.0


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def kill(self) -> None:
        """SIGKILL the CLI's whole process group: the machine dies, no shutdown code runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout=10)
        except TimeoutError:
            await self.kill()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """This run's own Redis, emptied for each test."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def queue(redis: Redis, redis_url: str) -> AsyncIterator[TaskiqJobQueue]:
    """The API side of Redis mode: it only enqueues, so its handlers must never run here."""

    async def runs_in_the_worker(*ids: int) -> None:
        raise AssertionError(f"a job ran in the API process: {ids}")

    queue = TaskiqJobQueue(
        build_broker(redis_url), dict.fromkeys(worker_app.JOB_NAMES, runs_in_the_worker)
    )
    await queue.start()
    yield queue
    await queue.stop()


@pytest.fixture
def start_worker(
    database_url: str, tmp_path: Path, redis_url: str
) -> Iterator[Callable[[], Awaitable[Worker]]]:
    started: list[Worker] = []
    env = {
        **os.environ,
        "ENV": "dev",
        "LOG_LEVEL": "INFO",
        "JOB_BROKER_URL": redis_url,
        "DATABASE_URL": database_url,
        "MAIL_DIR": str(tmp_path / "mail"),
        "MEDIA_DIR": str(tmp_path / "media"),
        "RATE_LIMIT_ENABLED": "false",
    }

    async def start() -> Worker:
        log_path = tmp_path / f"worker-{len(started)}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                # `taskiq worker …` as `make worker` runs it, on this interpreter.
                *(sys.executable, "-m", "taskiq", "worker"),
                "tests.jobs.worker_app:create_broker",
                *("--workers", "1", "--max-async-tasks", "4"),
                cwd=str(PROJECT_ROOT),
                env=env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                # Its own process group, so a kill reaches the worker child too.
                start_new_session=True,
            )
        worker = Worker(process, log_path)
        started.append(worker)
        return worker

    yield start
    # Whatever a failed test left behind, the CLI's parent or its worker child.
    for worker in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)


async def wait_until(condition: Callable[[], Awaitable[object]], worker: Worker, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {WAIT_S} s; worker log:\n{worker.log()}")
        await asyncio.sleep(0.05)


async def pending_count(redis: Redis) -> int:
    summary = await redis.xpending(QUEUE_NAME, CONSUMER_GROUP)
    return int(summary["pending"])


async def test_a_worker_process_runs_each_enqueued_job_exactly_once(
    queue: TaskiqJobQueue,
    redis: Redis,
    start_worker: Callable[[], Awaitable[Worker]],
    database_url: str,
) -> None:
    # Queued before any worker exists: the message waits in the stream.
    await queue.enqueue("record", 1, 10, 100)
    worker = await start_worker()
    try:
        await wait_until(lambda: redis.exists("runs:1"), worker, "the queued job")
        # Queued while the worker listens.
        await queue.enqueue("record", 2)
        await wait_until(lambda: redis.exists("runs:2"), worker, "the second job")
        # Acknowledged jobs are not delivered again, even after the redelivery window.
        await asyncio.sleep(2 * worker_app.REDELIVER_AFTER_S)
        assert [await redis.get("runs:1"), await redis.get("runs:2")] == [b"1", b"1"]
    finally:
        await worker.stop()
    assert json.loads(await redis.get("args:1") or "null") == [1, 10, 100]
    assert json.loads(await redis.get("args:2") or "null") == [2]
    assert int(await redis.get("pid:1") or 0) not in (0, os.getpid())
    # The worker built the app's resources from its own settings.
    assert await redis.get("database:1") == database_url.encode()
    # Acknowledged entries are deleted: the stream holds only queued and running jobs.
    assert await pending_count(redis) == 0
    assert await redis.xlen(QUEUE_NAME) == 0


async def test_a_job_whose_worker_is_killed_runs_again_on_a_new_worker(
    queue: TaskiqJobQueue, redis: Redis, start_worker: Callable[[], Awaitable[Worker]]
) -> None:
    await queue.enqueue("hang_once", 7)
    first = await start_worker()
    await wait_until(lambda: redis.exists("starts:7"), first, "the first delivery")
    await first.kill()
    # Never acknowledged: the job is still pending on the dead worker's consumer.
    assert await redis.get("finished:7") is None
    assert await pending_count(redis) == 1

    second = await start_worker()
    try:
        await wait_until(lambda: redis.exists("finished:7"), second, "the redelivery")
    finally:
        await second.stop()
    assert await redis.get("starts:7") == b"2"
    assert await pending_count(redis) == 0


async def test_a_job_running_longer_than_the_redelivery_window_runs_once(
    queue: TaskiqJobQueue, redis: Redis, start_worker: Callable[[], Awaitable[Worker]]
) -> None:
    """The running worker's heartbeat keeps an idle second worker from taking the job."""
    workers = [await start_worker(), await start_worker()]
    try:
        await wait_until(lambda: workers_ready(redis, 2), workers[0], "both workers starting")
        await queue.enqueue("outlive_the_window", 8)
        await wait_until(lambda: redis.exists("finished:8"), workers[0], "the slow job")
    finally:
        for worker in workers:
            await worker.stop()
    assert await redis.get("starts:8") == b"1"
    assert await pending_count(redis) == 0
    # Stopped cleanly with nothing held, each worker left the group: restarts do not pile up
    # consumers.
    assert await redis.xinfo_consumers(QUEUE_NAME, CONSUMER_GROUP) == []


async def workers_ready(redis: Redis, count: int) -> bool:
    return int(await redis.get("workers_ready") or 0) >= count
