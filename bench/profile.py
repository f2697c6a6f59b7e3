"""`--profile`: py-spy samples one worker of our server while a scenario runs; the raw
(collapsed) stacks go to bench/results/, and the functions holding most samples are printed."""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def py_spy() -> str | None:
    return os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy")


async def start_profile(pid: int, name: str, duration_s: float) -> asyncio.subprocess.Process:
    binary = py_spy()
    if binary is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy; or set BENCH_PY_SPY)")
    RESULTS.mkdir(exist_ok=True)
    return await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        "250",
        "--duration",
        str(max(1, round(duration_s))),
        "--output",
        str(RESULTS / f"profile-{name}.txt"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def summarise(name: str, top: int = 25) -> list[tuple[str, float]]:
    """Inclusive share of samples per function frame (a frame counted once per stack)."""
    path = RESULTS / f"profile-{name}.txt"
    if not path.exists():
        return []
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        for frame in set(stack.split(";")):
            inclusive[frame] += count
    rows = [(frame, 100.0 * n / total) for frame, n in inclusive.most_common(top)]
    print(f"\nprofile {name}: {total} samples; inclusive share by frame")
    for frame, share in rows:
        print(f"  {share:5.1f} %  {frame}")
    return rows
