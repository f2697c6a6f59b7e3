"""The job port: what services depend on to run work outside the request.

A job is a named handler and the integer ids it works on. The database row the ids point at is
the job's state; a handler opens its own unit of work, is idempotent and only moves the row
forward, because the queue delivers at least once (a worker that dies mid-job gets it again).
Callers enqueue only after the transaction that created the row has committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

# A handler takes the ids it was enqueued with (`enqueue("generate_image", image_id)`).
JobHandler = Callable[..., Awaitable[None]]
# Handlers by task name, e.g. {"generate_image": handler}.
JobHandlers = Mapping[str, JobHandler]


class UnknownJob(LookupError):
    """`enqueue` named a task no handler was registered for: a bug, surfaced at the caller."""

    def __init__(self, task_name: str) -> None:
        super().__init__(f"no job handler is registered as {task_name!r}")
        self.task_name = task_name


class JobQueue(Protocol):
    async def enqueue(self, task_name: str, *args: int) -> None:
        """Hand the job to the queue; returns once the queue holds it, not when it has run."""
        ...

    async def enqueue_later(self, delay_s: float, task_name: str, *args: int) -> None:
        """Hand the job to the queue after `delay_s` seconds without anyone waiting for it
        (a throttled provider). The row stays the job's state: if this process stops before
        then, the sweeper's resume of pending jobs queues it again."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
