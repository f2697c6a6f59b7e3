"""The serial worker thread: its jobs run one at a time in arrival order, and a low-priority
thread lowers its own priority and nobody else's."""

from __future__ import annotations

import asyncio
import os
import threading

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
