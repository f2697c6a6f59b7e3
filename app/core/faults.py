"""Test-only fault injection at named points of a job (`JOB_FAULTS`, refused with ENV=prod).

The crash promises (JOB-01, JOB-02, JOB-07, JOB-09) are about what happens when a real worker
process dies, or its database fails, at one exact point; a test names the point in the worker's
environment and the worker itself does the damage there:

    JOB_FAULTS="before_generate=kill"                    SIGKILL this process
    JOB_FAULTS="before_generate@42=kill"                 ... only when running image 42
    JOB_FAULTS="heartbeat=db_error,after_generate=delay:1.5"
    JOB_FAULTS="after_submit@42=kill"                    between the provider's answer to a
                                                         create and storing its prediction id

The points: `before_generate` (charged and claimed, the generator not called yet),
`after_submit` (a remote generator's create returned a prediction id that is not stored yet),
`heartbeat` (a lease renewal), `after_generate` (the result is in memory, not stored yet).

`kill` is a real SIGKILL of the process (no finally, no shutdown code runs); `db_error` raises
the database driver's error class as SQLAlchemy wraps it; `delay:<s>` sleeps there. With no
faults configured every point is a no-op.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError

POINTS = frozenset({"before_generate", "after_submit", "heartbeat", "after_generate"})


class InjectedDatabaseError(OperationalError):
    """What `db_error` raises: an `OperationalError`, as a lost connection would be."""

    def __init__(self, point: str) -> None:
        super().__init__(f"fault injected at {point}", None, ConnectionError(point))


@dataclass(frozen=True, slots=True)
class Faults:
    actions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str | None) -> Faults:
        actions: dict[str, str] = {}
        for item in (spec or "").split(","):
            if not item.strip():
                continue
            point, _, action = (part.strip() for part in item.partition("="))
            name, _, target = point.partition("@")
            if target and not target.isdigit():
                raise ValueError(f"fault target must be an image id, got {target!r}")
            if name not in POINTS:
                raise ValueError(f"unknown fault point {point!r}; known: {sorted(POINTS)}")
            if action not in ("kill", "db_error") and not action.startswith("delay:"):
                raise ValueError(f"unknown fault action {action!r} at {point}")
            if action.startswith("delay:"):
                float(action.removeprefix("delay:"))
            actions[point] = action
        return cls(actions)

    async def at(self, point: str, image_id: int | None = None) -> None:
        action = self.actions.get(f"{point}@{image_id}") or self.actions.get(point)
        if action is None:
            return
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "db_error":
            raise InjectedDatabaseError(point)
        else:
            await asyncio.sleep(float(action.removeprefix("delay:")))
