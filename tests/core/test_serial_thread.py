"""The serial worker thread: its jobs run one at a time in arrival order, a low-priority
thread lowers its own priority and nobody else's, and a job that starts behind a backlog runs
at the process's priority."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable

import pytest

from app.core.serial_thread import SerialThread

needs_linux_thread_priorities = pytest.mark.skipif(
    not os.path.exists("/proc/self/task"), reason="per-thread nice values are Linux's"
)


def _own_priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@needs_linux_thread_priorities
async def test_a_low_priority_thread_runs_its_jobs_below_the_callers_priority() -> None:
    caller = _own_priority()
    lane = SerialThread("test-low", nice=10)

    inside = await lane.run(_own_priority)

    assert inside == min(caller + 10, 19)
    # Only that thread: the loop's thread and the process keep theirs.
    assert _own_priority() == caller
    assert os.getpriority(os.PRIO_PROCESS, os.getpid()) == caller


async def test_a_normal_thread_keeps_the_process_priority() -> None:
    caller = _own_priority()

    assert await SerialThread("test-normal").run(_own_priority) == caller


async def test_jobs_run_one_at_a_time_in_arrival_order() -> None:
    lane = SerialThread("test-order")
    gate = threading.Event()
    order: list[int] = []

    first = lane.run(gate.wait, 10)
    rest = [lane.run(order.append, n) for n in range(5)]
    tasks = [asyncio.ensure_future(job) for job in (first, *rest)]
    await asyncio.sleep(0.05)
    assert order == []
    assert lane.waiting == 5
    gate.set()
    await asyncio.gather(*tasks)

    assert order == [0, 1, 2, 3, 4]
    assert lane.waiting == 0


@needs_linux_thread_priorities
async def test_a_job_that_starts_behind_a_backlog_runs_at_the_process_priority() -> None:
    caller = _own_priority()
    lane = SerialThread("test-backlog", nice=5, escalate_beyond=2)
    gate = threading.Event()
    running = 0
    peak = 0
    seen: list[tuple[int, int]] = []

    def job(n: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        seen.append((n, _own_priority()))
        time.sleep(0.01)  # long enough for the other thread to start one too, if it could
        running -= 1

    # Alone in the queue: the lowered thread takes it, and holds the others back.
    first = asyncio.ensure_future(lane.run(gate.wait, 10))
    await _until(lambda: lane.waiting == 0)
    rest = [asyncio.ensure_future(lane.run(job, n)) for n in range(4)]
    await _until(lambda: lane.waiting == 4)
    gate.set()
    await asyncio.gather(first, *rest)

    # Started with 4 and 3 waiting (more than 2): the process's priority; with 2 and 1: lowered.
    assert seen == [(0, caller), (1, caller), (2, min(caller + 5, 19)), (3, min(caller + 5, 19))]
    assert peak == 1
    assert _own_priority() == caller


async def test_a_job_cancelled_while_waiting_never_runs_and_leaves_the_queue() -> None:
    lane = SerialThread("test-cancel")
    gate = threading.Event()
    ran: list[int] = []

    first = asyncio.ensure_future(lane.run(gate.wait, 10))
    await _until(lambda: lane.waiting == 0)
    dropped = asyncio.ensure_future(lane.run(ran.append, 1))
    kept = asyncio.ensure_future(lane.run(ran.append, 2))
    await _until(lambda: lane.waiting == 2)
    dropped.cancel()
    await asyncio.sleep(0)

    assert lane.waiting == 1
    gate.set()
    await asyncio.gather(first, kept)
    assert ran == [2]
    assert dropped.cancelled()


async def test_a_failing_job_raises_in_the_caller_and_the_next_one_runs() -> None:
    lane = SerialThread("test-failure")

    with pytest.raises(ZeroDivisionError):
        await lane.run(divmod, 1, 0)
    assert await lane.run(sum, [1, 2]) == 3


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)
