"""Medians over interleaved rounds of wrk figures."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bench.wrk import WrkResult


def median_of(results: Sequence[WrkResult]) -> dict[str, float | int]:
    """Per figure the median over the rounds; errors are summed (any error counts)."""
    return {
        "rps": round(statistics.median(r.rps for r in results), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in results), 2),
        "p99_ms": round(statistics.median(r.p99_ms for r in results), 2),
        "max_ms": round(max(r.max_ms for r in results), 2),
        "errors": sum(r.errors for r in results),
        "rounds": len(results),
    }


def ratio(top: float, bottom: float) -> float:
    return round(top / bottom, 2) if bottom else 0.0
