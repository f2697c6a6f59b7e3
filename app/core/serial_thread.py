"""One worker thread per process running CPU jobs first come, first served, optionally at a
lower CPU priority than the event loop.

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
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)


class SerialThread:
    """One worker thread running the jobs in the order they were queued.

    The thread starts on the first job; a forked child starts its own (the parent's thread
    does not exist there). `nice` is added to the thread's priority when it starts (0: the
    process's own); where the system refuses, the thread runs at the process's priority.
    """

    def __init__(self, name: str, *, nice: int = 0) -> None:
        self.name = name
        self.nice = nice
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0
        self._waiting = 0
        self.threads = 1

    @property
    def waiting(self) -> int:
        """Jobs queued that have not started yet."""
        return self._waiting

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` in the thread, in this task's context (log fields). A task
        cancelled while its job waits drops the job; once started, it runs to the end."""
        context = contextvars.copy_context()
        with self._lock:
            self._waiting += 1
        try:
            future = self._pool().submit(self._started, context, function, *args)
        except BaseException:
            self._done_waiting()
            raise
        # A job cancelled before it started never runs `_started`.
        future.add_done_callback(lambda done: self._done_waiting() if done.cancelled() else None)
        return await asyncio.wrap_future(future)

    def _started(
        self, context: contextvars.Context, function: Callable[..., T], *args: object
    ) -> T:
        self._done_waiting()
        return context.run(function, *args)

    def _done_waiting(self) -> None:
        with self._lock:
            self._waiting -= 1

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None or self._pid != os.getpid():
                self._executor = ThreadPoolExecutor(
                    max_workers=self.threads,
                    thread_name_prefix=self.name,
                    initializer=self._lower_priority if self.nice else None,
                )
                self._pid = os.getpid()
            return self._executor

    def _lower_priority(self) -> None:
        thread_id = threading.get_native_id()
        try:
            current = os.getpriority(os.PRIO_PROCESS, thread_id)
            os.setpriority(os.PRIO_PROCESS, thread_id, min(current + self.nice, 19))
        except (OSError, AttributeError):
            # Not Linux, or not allowed: the work still runs, at the normal priority.
            logger.warning("could not lower the priority of the %s thread", self.name)
