"""A job queue for transactional tests: it records what the app queued, and the test runs
the jobs when it chooses (the real queue is exercised end to end against the server)."""

from __future__ import annotations

from app.jobs.port import JobHandlers


class RecordingQueue:
    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[int, ...]]] = []
        # (delay_s, task_name, args) of enqueue_later, run only after `release_delayed()`.
        self.delayed: list[tuple[float, str, tuple[int, ...]]] = []

    async def enqueue(self, task_name: str, *args: int) -> None:
        self.jobs.append((task_name, args))

    async def enqueue_later(self, delay_s: float, task_name: str, *args: int) -> None:
        self.delayed.append((delay_s, task_name, args))

    def jobs_for(self, *ids: int) -> list[tuple[str, tuple[int, ...]]]:
        """The recorded jobs of these images only. A sweeper sees every committed row of the
        shared test database, including jobs a live-server test left pending when its server
        stopped; a test asserts about its own."""
        return [(task, args) for task, args in self.jobs if args and args[0] in ids]

    def release_delayed(self) -> int:
        """The delays have passed: the delayed jobs join the queue."""
        released = len(self.delayed)
        self.jobs.extend((task_name, args) for _delay, task_name, args in self.delayed)
        self.delayed.clear()
        return released

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def run_all(self, handlers: JobHandlers) -> int:
        ran = 0
        while self.jobs:
            task_name, args = self.jobs.pop(0)
            await handlers[task_name](*args)
            ran += 1
        return ran
