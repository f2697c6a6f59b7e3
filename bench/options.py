"""Command-line options shared by the HTTP scenarios."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    quick: bool = False
    profile: bool = False

    @property
    def rounds(self) -> int:
        return 3 if self.quick else 5  # never fewer than 3, interleaved

    @property
    def duration_s(self) -> float:
        return 3.0 if self.quick else 8.0

    @property
    def images(self) -> int:
        return 100_000

    @property
    def memory_requests(self) -> int:
        return 20_000 if self.quick else 100_000
