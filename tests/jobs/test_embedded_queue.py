"""Embedded mode (no JOB_BROKER_URL): jobs run inside the API process, on its event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from app.jobs import JobHandlers, UnknownJob
from app.jobs.broker import EmbeddedBroker, TaskiqJobQueue, build_broker
from app.jobs.redis_stream import JobStreamBroker


def embedded_queue(
    handlers: JobHandlers, *, concurrency: int = 4, stop_grace_s: float = 10.0
) -> TaskiqJobQueue:
    broker = build_broker(
        None, embedded_concurrency=concurrency, embedded_stop_grace_s=stop_grace_s
    )
    return TaskiqJobQueue(broker, handlers)


async def settle() -> None:
    """Give every ready task on the loop a chance to run (the jobs are tasks of this loop)."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
async def started() -> AsyncIterator[Callable[[TaskiqJobQueue], TaskiqJobQueue]]:
    """Starts queues as the API does, and stops them at the end of the test."""
    queues: list[TaskiqJobQueue] = []

    def start(queue: TaskiqJobQueue) -> TaskiqJobQueue:
        queues.append(queue)
        return queue

    yield start
    for queue in queues:
        await queue.stop()


async def test_an_enqueued_job_runs_in_this_process_with_its_int_ids(
    started: Callable[[TaskiqJobQueue], TaskiqJobQueue],
) -> None:
    calls: list[tuple[int, ...]] = []
    loops: list[asyncio.AbstractEventLoop] = []

    async def generate(*ids: int) -> None:
        calls.append(ids)
        loops.append(asyncio.get_running_loop())

    queue = started(embedded_queue({"hairtryon.generate_image": generate}))
    await queue.start()
    await queue.enqueue("hairtryon.generate_image", 3, 4)
    await queue.drain()

    # The handler's name is the task's name on the wire, unchanged.
    assert queue.broker.find_task("hairtryon.generate_image") is not None
    assert calls == [(3, 4)]
    assert all(type(i) is int for i in calls[0])
    assert loops == [asyncio.get_running_loop()]
    assert queue.runs_in_process


async def test_enqueue_returns_before_the_job_has_run(
    started: Callable[[TaskiqJobQueue], TaskiqJobQueue],
) -> None:
    release = asyncio.Event()
    done: list[int] = []

    async def slow(job_id: int) -> None:
        await release.wait()
        done.append(job_id)

    queue = started(embedded_queue({"slow": slow}))
    await queue.start()
    await queue.enqueue("slow", 1)
    await settle()
    assert done == []
    release.set()
    await queue.drain()
    assert done == [1]


async def test_a_failing_job_is_logged_and_the_next_job_still_runs(
    started: Callable[[TaskiqJobQueue], TaskiqJobQueue], caplog: pytest.LogCaptureFixture
) -> None:
    done: list[int] = []

    async def flaky(job_id: int) -> None:
        if job_id == 1:
            raise RuntimeError("provider exploded")
        done.append(job_id)

    queue = started(embedded_queue({"flaky": flaky}))
    await queue.start()
    with caplog.at_level(logging.ERROR, logger="app.jobs"):
        await queue.enqueue("flaky", 1)
        await queue.drain()
        await queue.enqueue("flaky", 2)
        await queue.drain()

    assert done == [2]
    [failure] = [r for r in caplog.records if r.name == "app.jobs.broker"]
    assert failure.getMessage() == "job flaky(1,) failed"
    assert failure.exc_info is not None
    assert "provider exploded" in str(failure.exc_info[1])


async def test_no_more_than_the_configured_number_of_jobs_run_at_once(
    started: Callable[[TaskiqJobQueue], TaskiqJobQueue],
) -> None:
    gate = asyncio.Event()
    running: list[int] = []
    peak = 0
    finished: list[int] = []

    async def held(job_id: int) -> None:
        nonlocal peak
        running.append(job_id)
        peak = max(peak, len(running))
        await gate.wait()
        running.remove(job_id)
        finished.append(job_id)

    queue = started(embedded_queue({"held": held}, concurrency=2))
    await queue.start()
    for job_id in range(5):
        await queue.enqueue("held", job_id)
    await settle()
    assert len(running) == 2
    gate.set()
    await queue.drain()
    assert peak == 2
    assert sorted(finished) == [0, 1, 2, 3, 4]


async def test_stop_lets_running_jobs_finish_then_cancels_those_past_the_grace() -> None:
    quick_gate = asyncio.Event()
    finished: list[str] = []
    cancelled: list[str] = []

    async def quick(job_id: int) -> None:
        await quick_gate.wait()
        finished.append("quick")

    async def stuck(job_id: int) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("stuck")
            raise

    queue = embedded_queue({"quick": quick, "stuck": stuck}, stop_grace_s=0.2)
    await queue.start()
    await queue.enqueue("quick", 1)
    await queue.enqueue("stuck", 2)
    await settle()
    stopping = asyncio.create_task(queue.stop())
    await settle()
    quick_gate.set()
    await stopping

    assert finished == ["quick"]
    assert cancelled == ["stuck"]
    assert isinstance(queue.broker, EmbeddedBroker)
    assert not queue.broker._jobs


async def test_enqueue_refuses_unknown_jobs_and_anything_but_int_ids(
    started: Callable[[TaskiqJobQueue], TaskiqJobQueue],
) -> None:
    async def generate(*ids: int) -> None:
        raise AssertionError("must not run")

    queue = started(embedded_queue({"generate_image": generate}))
    await queue.start()
    with pytest.raises(UnknownJob, match="generate_video"):
        await queue.enqueue("generate_video", 1)
    for bad in ("1", 1.0, True, None):
        with pytest.raises(TypeError, match="int ids"):
            await queue.enqueue("generate_image", bad)  # type: ignore[arg-type]
    await queue.drain()


def test_the_broker_url_chooses_the_mode() -> None:
    embedded = build_broker(None)
    assert isinstance(embedded, EmbeddedBroker)
    assert isinstance(build_broker(""), EmbeddedBroker)
    # Building a broker connects to nothing, so these hosts need not exist.
    for url in ("redis://queue.example:6379/0", "rediss://cache.example:6380/0"):
        assert isinstance(build_broker(url), JobStreamBroker)
    with pytest.raises(ValueError, match=r"not amqp://") as refused:
        build_broker("amqp://user:s3cret@mq.example/")
    assert "s3cret" not in str(refused.value)


async def test_enqueue_later_holds_no_job_slot_while_it_waits(
    started: Callable[[TaskiqJobQueue], TaskiqJobQueue],
) -> None:
    """A throttled job waits as a timer, not as a running job: with one slot, a job queued
    meanwhile runs first, and the delayed one runs after its delay."""
    ran: list[int] = []
    delayed_ran = asyncio.Event()

    async def generate(image_id: int) -> None:
        ran.append(image_id)
        if image_id == 1:
            delayed_ran.set()

    queue = started(embedded_queue({"hairtryon.generate_image": generate}, concurrency=1))
    await queue.start()
    await queue.enqueue_later(0.2, "hairtryon.generate_image", 1)
    await queue.enqueue("hairtryon.generate_image", 2)
    await queue.drain()
    assert ran == [2]
    await asyncio.wait_for(delayed_ran.wait(), timeout=10)
    assert ran == [2, 1]
    with pytest.raises(UnknownJob):
        await queue.enqueue_later(1, "hairtryon.nope", 1)


async def test_stopping_cancels_delayed_jobs_whose_rows_the_sweeper_resumes() -> None:
    ran: list[int] = []

    async def generate(image_id: int) -> None:
        ran.append(image_id)

    queue = embedded_queue({"hairtryon.generate_image": generate})
    await queue.start()
    await queue.enqueue_later(30, "hairtryon.generate_image", 1)
    await queue.stop()
    await settle()
    assert ran == []
