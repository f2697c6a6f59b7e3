"""A worker thread per process (two with `escalate_beyond`) running CPU jobs one at a time,
first come, first served, optionally at a lower CPU priority than the event loop.

Why a thread of its own rather than `anyio.to_thread` behind a limiter: with a limiter, the
next queued job starts only after the event loop has taken back the previous result and woken
the next waiter, two turns of a loop that a request load keeps busy, while the capacity sits
idle (bench/README.md, "Login interference"). Here the thread runs its queue back to back.

Why a priority: background work (measuring an accepted upload) must not compete on equal
terms with requests for a 2-core machine's CPU. Linux schedules threads, and a thread's nice
value is its own (`setpriority` on its thread id), so the thread lowers its own priority once,
when it starts; every job it runs inherits that, and nothing else in the process does. Raising
it back would need CAP_SYS_NICE, which is why only a thread made for low-priority work is
ever lowered.

Why a second thread for a backlog (`escalate_beyond`): a lowered thread yields the CPU to the
event loops while they are busy, which is right while few jobs wait (a password check then
takes a few tenths of a second instead of one tenth, and the requests the loops serve keep
their pace), and wrong once a queue builds: everyone queued waits behind jobs that each crawl.
Since the lowered thread cannot be raised again, a job that starts while more than
`escalate_beyond` jobs wait runs on a second thread at the process's own priority. Still one
job at a time, in arrival order, whichever thread runs it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)
# Starting a SerialThread's threads takes a moment; this keeps two callers from both doing it.
_STARTING = threading.Lock()


@dataclass(eq=False)
class _Job:
    future: Future[Any]
    context: contextvars.Context
    function: Callable[..., Any]
    args: tuple[object, ...]


class SerialThread:
    """Jobs run one at a time, in the order they were queued, off the event loop.

    The thread (or two) starts on the first job; a forked child starts its own (the parent's thread
    does not exist there). `nice` is added to the thread's priority when it starts (0: the
    process's own); where the system refuses, the thread runs at the process's priority.
    With `escalate_beyond` (and a `nice`), a job that starts while more than that many jobs
    are waiting (itself included) runs on a second thread at the process's priority.
    """

    def __init__(self, name: str, *, nice: int = 0, escalate_beyond: int | None = None) -> None:
        if escalate_beyond is not None and escalate_beyond < 1:
            raise ValueError("escalate_beyond counts waiting jobs: at least 1")
        self.name = name
        self.nice = nice
        self.escalate_beyond = escalate_beyond if nice > 0 else None
        self._ready = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._running = False
        self._pid = 0
        self._lowered_thread: int | None = None

    @property
    def waiting(self) -> int:
        """Jobs queued that have not started yet."""
        return len(self._jobs)

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` in the thread, in this task's context (log fields). A task
        cancelled while its job waits drops the job; once started, it runs to the end."""
        job = _Job(Future(), contextvars.copy_context(), function, args)
        if self._pid != os.getpid():
            self._start_threads()
        with self._ready:
            self._jobs.append(job)
            self._ready.notify_all()
        job.future.add_done_callback(lambda _: self._forget(job))
        result: T = await asyncio.wrap_future(job.future)
        return result

    def lowered_here(self) -> bool:
        """True when called by a job this lane runs below the process's priority."""
        return self.nice > 0 and threading.get_ident() == self._lowered_thread

    def _forget(self, job: _Job) -> None:
        """A job cancelled before it started leaves the queue at once (it no longer counts as
        waiting); a finished one has left it already."""
        with self._ready:
            if job in self._jobs:
                self._jobs.remove(job)
                # Which thread takes the next job depends on how many wait: both may have
                # looked at the longer queue and gone back to sleep.
                self._ready.notify_all()

    def _start_threads(self) -> None:
        """In this process, once: a forked child has none of its parent's threads, and its
        copies of the queue and the lock (perhaps held at the fork) are not its own."""
        with _STARTING:
            if self._pid == os.getpid():
                return
            self._ready = threading.Condition()
            self._jobs = deque()
            self._running = False
            self._lowered_thread = None
            # Daemon threads: at exit nobody awaits their jobs any more.
            threading.Thread(
                target=self._serve, args=(self.nice > 0,), name=self.name, daemon=True
            ).start()
            if self.escalate_beyond is not None:
                threading.Thread(
                    target=self._serve, args=(False,), name=f"{self.name}-backlog", daemon=True
                ).start()
            # Only once both run: a failed start is tried again by the next job.
            self._pid = os.getpid()

    def _takes_next(self, lowered: bool) -> bool:
        if not self._jobs or self._running:
            return False
        if self.escalate_beyond is None:
            return True
        return (len(self._jobs) > self.escalate_beyond) != lowered

    def _serve(self, lowered: bool) -> None:
        if lowered and self._lower_priority():
            self._lowered_thread = threading.get_ident()
        while True:
            with self._ready:
                while not self._takes_next(lowered):
                    self._ready.wait()
                job = self._jobs.popleft()
                self._running = True
            try:
                if job.future.set_running_or_notify_cancel():
                    try:
                        result = job.context.run(job.function, *job.args)
                    except BaseException as exc:
                        job.future.set_exception(exc)
                    else:
                        job.future.set_result(result)
            finally:
                # Not kept until the next job: its arguments (a password, a photo's bytes).
                job = result = None  # type: ignore[assignment]
                with self._ready:
                    self._running = False
                    self._ready.notify_all()

    def _lower_priority(self) -> bool:
        """Whether this thread now runs below the priority it started with."""
        thread_id = threading.get_native_id()
        try:
            current = os.getpriority(os.PRIO_PROCESS, thread_id)
            os.setpriority(os.PRIO_PROCESS, thread_id, min(current + self.nice, 19))
            return os.getpriority(os.PRIO_PROCESS, thread_id) > current
        except (OSError, AttributeError):
            # Not Linux, or not allowed: the work still runs, at the normal priority.
            logger.warning("could not lower the priority of the %s thread", self.name)
            return False
