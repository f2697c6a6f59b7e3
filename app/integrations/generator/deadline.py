"""A generation's time budget, as a point on the monotonic clock (no image libraries here, so
the API process can hold one without loading NumPy and OpenCV)."""

from __future__ import annotations

import time

from app.integrations.generator.port import GenerationFailed


class Deadline:
    """A point on the monotonic clock, `budget_s` seconds after creation."""

    def __init__(self, budget_s: float) -> None:
        self._end = time.monotonic() + budget_s

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def check(self, stage: str) -> None:
        if self.remaining() <= 0:
            raise GenerationFailed(
                "GENERATION_TIMEOUT", f"the deadline passed before the {stage} stage"
            )
