"""Machine-wide slots (app/core/slots.py) between real processes, proven by ordering: the
intervals each process held a slot, as it recorded them, never overlap beyond the cap."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import argon2
import pytest

from app.auth.passwords import PasswordHasher
from app.core.config import PROJECT_ROOT, Settings
from app.core.serial_thread import SerialThread
from app.core.slots import MachineSlots
from tests.loop_probe import LoopProbe

_SLOT_PROCESS = (sys.executable, "-m", "tests.core.slot_process")


def _run_recorders(directory: Path, count: int, processes: int, out: Path) -> list[tuple[int, int]]:
    children = [
        subprocess.Popen(
            [*_SLOT_PROCESS, "record", str(directory), str(count), str(out), "6"],
            cwd=PROJECT_ROOT,
        )
        for _ in range(processes)
    ]
    for child in children:
        assert child.wait(timeout=120) == 0
    lines = out.read_text().split("\n")
    return [(int(a), int(b)) for a, b in (line.split() for line in lines if line)]


def _most_at_once(intervals: list[tuple[int, int]]) -> int:
    # Ends sort before starts at the same instant: touching intervals do not overlap.
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    held = peak = 0
    for _, change in events:
        held += change
        peak = max(peak, held)
    return peak


def test_two_processes_never_hold_the_only_slot_at_once(tmp_path: Path) -> None:
    intervals = _run_recorders(tmp_path / "slots", 1, 2, tmp_path / "held.txt")

    assert len(intervals) == 12
    assert _most_at_once(intervals) == 1


def test_three_processes_share_two_slots_at_most_two_at_once(tmp_path: Path) -> None:
    intervals = _run_recorders(tmp_path / "slots", 2, 3, tmp_path / "held.txt")

    assert len(intervals) == 18
    assert _most_at_once(intervals) <= 2


def test_the_overlap_count_sees_unlimited_holders() -> None:
    """Control: the measure used above does count overlapping holders."""
    assert _most_at_once([(0, 10), (5, 15), (20, 30)]) == 2
    assert _most_at_once([(0, 10), (10, 20)]) == 1


async def _slot_holder(directory: Path) -> asyncio.subprocess.Process:
    """Another process holding the only slot of `directory` until told "release"."""
    holder = await asyncio.create_subprocess_exec(
        *_SLOT_PROCESS,
        "hold",
        str(directory),
        "1",
        cwd=PROJECT_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), timeout=60) == b"held\n"
    return holder


async def test_a_hash_waits_for_another_process_slot_while_the_loop_keeps_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the process's priority (a hash that started behind a backlog) a hash takes a slot."""
    directory = tmp_path / "slots"
    holder = await _slot_holder(directory)
    try:
        assert holder.stdin is not None
        probe = LoopProbe(monkeypatch, asyncio.get_running_loop())
        probe.wrap(argon2.PasswordHasher, "hash")
        hasher = PasswordHasher(slots=MachineSlots(directory, 1), queue=SerialThread("slot-test"))

        hashing = asyncio.create_task(hasher.hash("correct horse battery staple"))
        ticks = 0
        for _ in range(50):  # ~0.5 s: a hash that did not wait would be done long before
            await asyncio.sleep(0.01)
            ticks += 1
        # The other process still holds the only slot: no hash has started, and the loop
        # went on serving (it ran this coroutine 50 times) while the hash waited.
        assert not hashing.done()
        assert probe.calls == []
        assert ticks == 50

        holder.stdin.write(b"release\n")
        await holder.stdin.drain()
        hashed = await asyncio.wait_for(hashing, timeout=60)
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()

    assert hashed.startswith("$argon2id$")
    assert probe.served("hash") == [True]  # and once it ran, it ran in a worker thread


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="per-thread nice is Linux's")
async def test_a_hash_below_the_loops_priority_takes_no_slot(tmp_path: Path) -> None:
    """A lowered hash yields the CPU to the loops by itself: it neither needs a slot nor waits
    for one, so it never keeps a raised hash of another process waiting while it crawls."""
    directory = tmp_path / "slots"
    holder = await _slot_holder(directory)
    try:
        lowered = SerialThread("lowered-hash-test", nice=5, escalate_beyond=1)
        hasher = PasswordHasher(slots=MachineSlots(directory, 1), queue=lowered)

        hashed = await asyncio.wait_for(hasher.hash("correct horse battery staple"), timeout=60)
    finally:
        holder.kill()
        await holder.wait()

    assert hashed.startswith("$argon2id$")


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="per-thread nice is Linux's")
async def test_a_hash_raised_by_a_backlog_takes_a_slot(tmp_path: Path) -> None:
    """Two hashes queued together on a lowered lane: the first starts with another waiting, so
    it runs at the process's priority and must wait for the other process's slot (and the
    second, one at a time, waits behind it)."""
    directory = tmp_path / "slots"
    holder = await _slot_holder(directory)
    try:
        assert holder.stdin is not None
        lane = SerialThread("raised-hash-test", nice=5, escalate_beyond=1)
        hasher = PasswordHasher(slots=MachineSlots(directory, 1), queue=lane)
        hashes = [asyncio.create_task(hasher.hash(f"password {n}")) for n in range(2)]
        await asyncio.sleep(0.5)  # a hash that took no slot would be done long before

        assert not any(task.done() for task in hashes)
        holder.stdin.write(b"release\n")
        await holder.stdin.drain()
        hashed = await asyncio.wait_for(asyncio.gather(*hashes), timeout=60)
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()

    assert all(h.startswith("$argon2id$") for h in hashed)


def _blocked_on_a_lock(pid: int) -> bool:
    """Whether `pid` waits for an flock right now: the kernel lists each blocked request in
    /proc/locks with "->" before it."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "->" and fields[2] == "FLOCK" and fields[5] == str(pid):
            return True
    return False


def test_a_waiting_process_gets_the_slot_before_its_holder_takes_it_again(tmp_path: Path) -> None:
    """Fair hand-over: the holder releases and at once asks again (a worker with hashes queued);
    the process that was already waiting goes first. A bare blocking flock lets the releaser,
    still running, take it back while the woken waiter is not yet scheduled."""
    directory, out = tmp_path / "slots", tmp_path / "order.txt"
    holder = subprocess.Popen(
        [*_SLOT_PROCESS, "again", str(directory), "1", str(out)],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    waiter: subprocess.Popen[bytes] | None = None
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline() == b"held\n"
        waiter = subprocess.Popen([*_SLOT_PROCESS, "mark", str(directory), "1", str(out)])
        for _ in range(6000):  # until the waiter is queued (a deadline, not a measurement)
            if _blocked_on_a_lock(waiter.pid):
                break
            assert waiter.poll() is None
            time.sleep(0.01)
        assert _blocked_on_a_lock(waiter.pid)

        holder.stdin.write(b"release\n")
        holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
        assert waiter.wait(timeout=60) == 0
    finally:
        for child in (holder, waiter):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()

    assert out.read_text().split() == ["waiter", "again"]


def test_hash_concurrency_defaults_to_half_the_cores_at_least_one() -> None:
    cores = len(os.sched_getaffinity(0))
    assert Settings().password_hash_concurrency == max(1, cores // 2)
    assert Settings(PASSWORD_HASH_CONCURRENCY=3).password_hash_concurrency == 3


def test_an_unusable_lock_directory_falls_back_to_no_machine_cap(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    slots = MachineSlots(blocker / "slots", 1)  # a directory under a regular file: ENOTDIR

    with slots.hold() as index:
        assert index is None


def test_a_lock_directory_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    """The default directory is a fixed name in the shared /tmp: whoever creates it first owns
    it. Slots in a directory another account can write to (or one reached through a symlink)
    could be held forever by that account, and every login here would wait on them: such a
    directory is refused like an unusable one (the per-process cap still holds)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    linked = tmp_path / "linked"
    linked.symlink_to(elsewhere, target_is_directory=True)

    for directory in (shared, linked):
        with MachineSlots(directory, 1).hold() as index:
            assert index is None, directory


def test_a_slot_file_that_is_a_symlink_is_not_followed(tmp_path: Path) -> None:
    directory = tmp_path / "slots"
    directory.mkdir(mode=0o700)
    target = tmp_path / "someone-elses-file"
    target.write_text("keep")
    (directory / "slot-0.lock").symlink_to(target)

    with MachineSlots(directory, 1).hold() as index:
        assert index is None
    assert target.read_text() == "keep"
