"""Side-by-side measurement: every case runs once per round, in turn, so drifts in machine load
hit all cases alike; each figure is the median over the rounds."""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from tests.conftest import run_alembic
from tests.live_server import LiveServer, server_env, start_live_server

ROUNDS = 5  # at least 3, interleaved


async def side_by_side(
    title: str,
    cases: dict[str, Callable[[], Awaitable[float]]],
    *,
    rounds: int = ROUNDS,
    unit: str = "ms",
    scale: float = 1000.0,
) -> dict[str, float]:
    """Run `cases` interleaved for `rounds` rounds; print and return each case's median."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(max(rounds, 3)):
        for name, case in cases.items():
            samples[name].append(await case())
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"\n{title} (median of {max(rounds, 3)} interleaved rounds)")
    for name, values in samples.items():
        spread = f"min {min(values) * scale:.1f} max {max(values) * scale:.1f}"
        print(f"  {name:<38} {medians[name] * scale:9.1f} {unit}   ({spread})")
    return medians


def ratio_line(label: str, medians: dict[str, float], top: str, bottom: str) -> None:
    print(f"  {label}: {medians[top] / medians[bottom]:.2f}")


@asynccontextmanager
async def sqlite_server(**settings: str) -> AsyncIterator[LiveServer]:
    """The real server process (run.py) on a fresh migrated SQLite file in a temp directory."""
    with tempfile.TemporaryDirectory(prefix="hairtryon-bench-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'bench.db'}"
        await run_alembic(url, "head")
        server = await start_live_server(server_env(url, workdir, **settings), workdir)
        try:
            yield server
        finally:
            await server.stop()
