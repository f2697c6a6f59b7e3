"""Work that runs after a response, such as sending email once a transaction has committed.

Tasks are tracked so shutdown (and tests) can wait for them, and a failing task is logged
instead of vanishing with an unretrieved exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, job: AfterCommit, *, name: str = "background") -> None:
        task = asyncio.get_running_loop().create_task(self._run(job, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, limit_s: float = 30.0) -> None:
        """Wait for every task spawned so far (and those they spawn) to finish."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                logger.warning("%d background tasks still running at drain", len(self._tasks))
                return
            await asyncio.wait(set(self._tasks), timeout=remaining)

    @staticmethod
    async def _run(job: AfterCommit, name: str) -> None:
        try:
            await job()
        except Exception:
            logger.exception("background task %s failed", name)
