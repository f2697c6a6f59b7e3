"""`--profile`: py-spy samples one worker of our server while a scenario runs; the raw
(collapsed) stacks go to bench/results/, and the functions holding most samples are printed."""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


_SAMPLED: dict[Path, float] = {}


def _sampled_seconds(path: Path) -> float:
    return _SAMPLED.get(path, 1.0)


def py_spy() -> str | None:
    return os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy")


async def start_profile(pid: int, name: str, duration_s: float) -> asyncio.subprocess.Process:
    binary = py_spy()
    if binary is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy; or set BENCH_PY_SPY)")
    RESULTS.mkdir(exist_ok=True)
    seconds = max(1, round(duration_s))
    _SAMPLED[RESULTS / f"profile-{name}.txt"] = float(seconds)
    return await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        str(RATE_HZ),
        "--gil",  # only the thread holding the GIL: time spent computing, not waiting
        "--nolineno",
        "--duration",
        str(seconds),
        "--output",
        str(RESULTS / f"profile-{name}.txt"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


RATE_HZ = 250


def summarise(name: str, *, per_second: float, top: int = 25) -> dict[str, Any]:
    """Shares of the GIL-held samples: by leaf frame (self time) and by frame anywhere in the
    stack (inclusive; frames present in nearly every sample, the server's own loop, left out)."""
    path = RESULTS / f"profile-{name}.txt"
    if not path.exists():
        return {}
    inclusive: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaves[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return {}

    def shares(counter: collections.Counter[str], limit: float) -> list[tuple[str, float]]:
        rows = [(f, round(100.0 * n / total, 1)) for f, n in counter.most_common()]
        return [(f, share) for f, share in rows if share < limit][:top]

    seconds = total / RATE_HZ
    gil_ms = round(1000 * seconds / (per_second * _sampled_seconds(path)), 2)
    result: dict[str, Any] = {"self": shares(leaves, 101), "inclusive": shares(inclusive, 90)}
    print(
        f"\nprofile {name}: {total} GIL-held samples of one worker;"
        f" about {gil_ms} ms of GIL time per request"
    )
    result["gil_ms_per_request"] = gil_ms
    for kind, rows in (("self", result["self"]), ("inclusive", result["inclusive"])):
        print(f"  by {kind} share:")
        for frame, share in rows:
            print(f"    {share:5.1f} %  {frame}")
    return result
