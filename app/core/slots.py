"""A machine-wide counting semaphore: N slots, each an exclusive `flock` on its own file.

Why files: API processes started by `run.py --workers N` (and job workers, and the admin CLI)
share nothing but the machine. A process-wide limiter lets every process run its own CPU-heavy
work at once, so two workers hash passwords on both cores of a 2-core box and their event loops
starve. An `flock` is the cheapest thing every process on the host can see: the kernel drops it
when the file is closed or the process dies, so a crashed holder never leaks a slot.

`hold()` blocks the calling thread while every slot is taken: call it from a worker thread,
never on the event loop (PasswordHasher does).

Waiters are served in turn, not by a race. A bare blocking `flock` is unfair: when its holder
releases and at once asks again (a process with hashes queued), it is still running while the
woken waiter is not, and it takes the lock back; the other API worker's logins starve. So a
waiter first takes the turnstile (one more lock file) and keeps it while it waits for a slot:
a releaser that asks again queues on the turnstile behind it, and the slot goes to the one that
was already waiting. Between several processes queued on the turnstile itself the kernel picks
any, but never the one that just let go. With every slot taken, the turnstile's holder waits on
the slot taken longest ago (the acquisition order is kept in the turnstile file): holds are one
hash each, so that one frees first.

The default directory is a fixed name in the shared temporary directory, so whoever creates it
first owns it. A slot another account can lock can be held by it forever, and every login here
would wait behind it: the directory must be ours and writable by no one else (not reached
through a symlink), and the slot files are opened without following symlinks. Otherwise the
slots are not used (the process-wide cap still applies), with a warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


class MachineSlots:
    """At most `count` holders at once among every process that uses `directory`."""

    def __init__(self, directory: Path, count: int) -> None:
        if count < 1:
            raise ValueError("a machine-wide limit needs at least one slot")
        self.directory = directory
        self.count = count
        self._warned = False

    @contextmanager
    def hold(self) -> Iterator[int | None]:
        """Holds one slot for the body; yields its index (None when the lock directory is
        unusable, see below)."""
        descriptors = self._open_slots()
        if descriptors is None:
            yield None
            return
        try:
            index = self._acquire(descriptors)
            yield index
        finally:
            # Closing releases the lock: one code path for release, exceptions and all.
            for descriptor in descriptors:
                os.close(descriptor)

    def _acquire(self, descriptors: list[int]) -> int:
        turnstile, slots = descriptors[-1], descriptors[:-1]
        # One waiter at a time past here; whoever comes next (the releaser too) queues.
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            order = _read_order(turnstile, self.count)
            index = self._take_free(slots)
            if index is None:
                index = min(range(self.count), key=order.__getitem__)
                fcntl.flock(slots[index], fcntl.LOCK_EX)
            _record_order(turnstile, order, index)
            return index
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)

    @staticmethod
    def _take_free(slots: list[int]) -> int | None:
        for index, descriptor in enumerate(slots):
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            return index
        return None

    def _open_slots(self) -> list[int] | None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _require_private(self.directory)
            descriptors: list[int] = []
            try:
                names = [f"slot-{index}.lock" for index in range(self.count)]
                for name in [*names, "turnstile.lock"]:
                    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
                    descriptors.append(os.open(self.directory / name, flags, 0o600))
            except OSError:
                for descriptor in descriptors:
                    os.close(descriptor)
                raise
            return descriptors
        except OSError as exc:
            # A lock directory we cannot use (read-only filesystem, another user's files) must
            # not turn every login into a 500: fall back to the process-wide limit alone, and
            # say so once.
            if not self._warned:
                self._warned = True
                logger.warning(
                    "machine-wide slots unavailable in %s (%s); limiting per process only",
                    self.directory,
                    exc.strerror,
                )
            return None


def _read_order(turnstile: int, count: int) -> list[int]:
    """When each slot was last taken (a counter; 0 = never), as the turnstile file keeps it.
    A file from another slot count, or torn, reads as zeros past its end: only a hint."""
    raw = os.pread(turnstile, 8 * count, 0)
    return [int.from_bytes(raw[8 * i : 8 * i + 8].ljust(8, b"\0"), "big") for i in range(count)]


def _record_order(turnstile: int, order: list[int], taken: int) -> None:
    """Marks slot `taken` as the newest. Only a hint for the next waiter: a counter that has
    run out (a foreign file) starts over, and a failed write costs nothing but the hint."""
    newest = max(order) + 1
    if newest >= 2**63:
        order, newest = [0] * len(order), 1
    order[taken] = newest
    with contextlib.suppress(OSError):
        os.pwrite(turnstile, b"".join(n.to_bytes(8, "big") for n in order), 0)


def _require_private(directory: Path) -> None:
    """Raises PermissionError unless `directory` is a real directory of this account that no
    other account can write to."""
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise PermissionError(0, "not a directory of its own (a symlink?)")
    if info.st_uid != os.geteuid():
        raise PermissionError(0, "owned by another account")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(0, "writable by other accounts")
