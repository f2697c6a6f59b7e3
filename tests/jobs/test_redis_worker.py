"""Redis mode: the test process enqueues as the API does; separate worker processes, started
as `make worker` starts them, run the jobs. Acknowledged delivery means a job whose worker dies
is run again by another, and a job that finishes is not run twice; a worker stops promptly on
SIGTERM or SIGINT (however often it gets them) and leaves what it did not finish to be
delivered again; without a broker it refuses to start, once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.core.config import PROJECT_ROOT
from app.core.memory import HUGE_PAGE_TUNABLE, huge_pages_available
from app.jobs.broker import CONSUMER_GROUP, QUEUE_NAME, TaskiqJobQueue, build_broker
from tests.jobs import worker_app
from tests.jobs.conftest import StartWorker, wait_until
from tests.live_server import environment_variable_of

pytestmark = pytest.mark.slow


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


async def pending_count(redis: Redis) -> int:
    summary = await redis.xpending(QUEUE_NAME, CONSUMER_GROUP)
    return int(summary["pending"])


async def test_a_worker_process_runs_each_enqueued_job_exactly_once(
    queue: TaskiqJobQueue,
    redis: Redis,
    start_worker: StartWorker,
    database_url: str,
) -> None:
    # Queued before any worker exists: the message waits in the stream.
    await queue.enqueue("record", 1, 10, 100)
    worker = await start_worker(worker_app.HANDLERS)
    try:
        await wait_until(lambda: redis.exists("runs:1"), "the queued job", worker)
        # Queued while the worker listens.
        await queue.enqueue("record", 2)
        await wait_until(lambda: redis.exists("runs:2"), "the second job", worker)
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


@pytest.mark.skipif(not huge_pages_available(), reason="no transparent huge pages to ask for")
async def test_a_worker_process_runs_with_the_huge_page_tunable(
    queue: TaskiqJobQueue, redis: Redis, start_worker: StartWorker
) -> None:
    """`python -m app.jobs` re-executes itself with it before working (app/core/memory.py)."""
    worker = await start_worker(worker_app.HANDLERS)
    try:
        await queue.enqueue("record", 1)
        await wait_until(lambda: redis.exists("runs:1"), "the queued job", worker)
        tunables = environment_variable_of(worker.process.pid, "GLIBC_TUNABLES")
    finally:
        await worker.stop()
    assert tunables == f"{HUGE_PAGE_TUNABLE}=1"


async def test_a_stopping_worker_ends_its_queue_read_without_a_cancellation(
    redis: Redis, redis_url: str
) -> None:
    """taskiq's receiver ends `listen()` by cancelling the read and waiting without a bound; a
    lost cancellation kept a worker from ever exiting. `stop_listening()` ends the read loop
    itself, within one blocking read, with nothing cancelled."""
    from app.jobs.redis_stream import JobStreamBroker

    broker = build_broker(redis_url, redeliver_after_s=1.0)
    assert isinstance(broker, JobStreamBroker)
    broker.is_worker_process = True
    await broker.startup()
    messages = broker.listen()
    try:
        read = asyncio.create_task(anext(messages))
        # The read is under way: Redis lists a client blocked in it.
        await wait_until(lambda: _reading(redis), "the first blocking read")
        broker.stop_listening()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(read, timeout=30)  # a bound on waiting, not a measurement
    finally:
        await messages.aclose()
        await broker.shutdown()


async def _reading(redis: Redis) -> bool:
    return any(client["cmd"] == "xreadgroup" for client in await redis.client_list())


async def test_sigusr1_makes_a_worker_log_what_each_of_its_tasks_awaits(
    queue: TaskiqJobQueue, redis: Redis, start_worker: StartWorker
) -> None:
    """An operator's (and a failing test's) view into a worker that will not stop."""
    worker = await start_worker(worker_app.HANDLERS)
    try:
        await queue.enqueue("hang", 9)
        await wait_until(lambda: redis.exists("starts:9"), "the hanging job", worker)
        worker.process.send_signal(signal.SIGUSR1)

        async def dumped() -> bool:
            return "SIGUSR1;" in worker.log() and "in hang" in worker.log()

        await wait_until(dumped, "the tasks' awaits in the log", worker)
        assert worker.process.returncode is None  # still working
    finally:
        await worker.stop()
    lines = worker.log().splitlines()
    # One line per task: the hanging job's awaits down to its sleep, the queue's read down to
    # Redis's socket.
    job = next(line for line in lines if "worker_app.py" in line)
    assert "in hang > " in job
    assert "tasks.py" in job.split("in hang > ")[1]  # asyncio.sleep
    read = next(line for line in lines if "in _next_entries" in line)
    assert "redis_stream.py" in read
    assert "waiting for" in read


async def test_a_job_whose_worker_is_killed_runs_again_on_a_new_worker(
    queue: TaskiqJobQueue, redis: Redis, start_worker: StartWorker
) -> None:
    await queue.enqueue("hang_once", 7)
    first = await start_worker(worker_app.HANDLERS)
    await wait_until(lambda: redis.exists("starts:7"), "the first delivery", first)
    await first.kill()
    # Never acknowledged: the job is still pending on the dead worker's consumer.
    assert await redis.get("finished:7") is None
    assert await pending_count(redis) == 1

    second = await start_worker(worker_app.HANDLERS)
    try:
        await wait_until(lambda: redis.exists("finished:7"), "the redelivery", second)
    finally:
        await second.stop()
    assert await redis.get("starts:7") == b"2"
    assert await pending_count(redis) == 0


async def test_a_job_running_longer_than_the_redelivery_window_runs_once(
    queue: TaskiqJobQueue, redis: Redis, start_worker: StartWorker
) -> None:
    """The running worker's heartbeat keeps an idle second worker from taking the job."""
    workers = [await start_worker(worker_app.HANDLERS), await start_worker(worker_app.HANDLERS)]
    try:
        await wait_until(lambda: workers_ready(redis, 2), "both workers starting", *workers)
        await queue.enqueue("outlive_the_window", 8)
        await wait_until(lambda: redis.exists("finished:8"), "the slow job", workers[0])
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


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_worker_stops_within_its_grace_on_signals_and_leaves_unfinished_jobs_queued(
    queue: TaskiqJobQueue, redis: Redis, start_worker: StartWorker, signum: signal.Signals
) -> None:
    """`uv run` forwards a terminal's signal that the process group already delivered: the
    worker gets it twice (and a third time for good measure) and still stops, within
    JOB_STOP_GRACE_S (2 s here), with the running job cancelled and still pending."""
    worker = await start_worker(worker_app.HANDLERS, JOB_STOP_GRACE_S="2")
    await queue.enqueue("hang", 5)
    await wait_until(lambda: redis.exists("starts:5"), "the job starting", worker)
    for _ in range(3):
        worker.process.send_signal(signum)
        await asyncio.sleep(0.05)
    # The grace, plus start-up slack of a loaded machine: a bound, not a measurement.
    await wait_until(
        lambda: _exited(worker.process), "the worker stopping", worker, within_s=2 + 10
    )
    assert worker.process.returncode == 0, worker.log()
    assert await redis.get("cancelled:5") == b"1"
    # Not acknowledged: the next worker gets it (its consumer is kept while it holds it).
    assert await pending_count(redis) == 1
    assert "already stopping" in worker.log()


async def _exited(process: asyncio.subprocess.Process) -> bool:
    return process.returncode is not None


async def test_without_a_broker_the_worker_exits_2_with_one_line(
    worker_env: dict[str, str],
) -> None:
    env = {**worker_env, "JOB_BROKER_URL": ""}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app.jobs"),
        cwd=str(PROJECT_ROOT),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert stdout == b""
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "JOB_BROKER_URL is not set" in lines[0]
