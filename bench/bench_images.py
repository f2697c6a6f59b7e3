"""Image figures.

- UP-01/UP-03 memory: peak RSS growth (each sample in a fresh process) for a 50 MiB body cut at
  the 10 MiB cap, a 12000x12000 PNG bomb refused from its header, and, for scale, a real
  2000x2000 photo that is decoded.
- Event-loop stalls: the longest gap between 5 ms ticks while an image is processed in the
  worker thread (process_image_async) and, for contrast, inline on the loop.
- The local generator: total time per view at 512 px, and its stage timings.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
from collections.abc import Awaitable, Callable

from PIL import Image

from app.core.config import PROJECT_ROOT
from app.files.intake import ImagePolicy, process_image, process_image_async
from app.integrations.generator import LocalGenerator, View
from bench.common import side_by_side
from bench.memory_case import CASES
from tests.integrations.generator.images import BEACH_WAVES, PORTRAIT, request

MiB = 1024 * 1024


def memory(case: str) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.memory_case",
            case,
            cwd=str(PROJECT_ROOT),
            stdout=asyncio.subprocess.PIPE,
        )
        output, _ = await process.communicate()
        return float(output)

    return run


async def max_tick_gap(work: Callable[[], Awaitable[object]]) -> float:
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    try:
        await work()
    finally:
        done.set()
        await ticker
    return max(gaps)


async def main() -> None:
    await side_by_side(
        "UP-01/UP-03 peak RSS growth",
        {case: memory(case) for case in CASES},
        rounds=3,
        unit="MiB",
        scale=1 / MiB,
    )

    buffer = io.BytesIO()
    Image.effect_noise((3000, 2000), 40).convert("RGB").save(buffer, "JPEG", quality=90)
    photo, policy = buffer.getvalue(), ImagePolicy(max_bytes=50 * MiB)

    async def inline() -> object:
        return process_image(photo, policy)

    await side_by_side(
        "Longest event-loop stall while a 3000x2000 JPEG is processed (target: under 100 ms)",
        {
            "worker thread (process_image_async)": lambda: max_tick_gap(
                lambda: process_image_async(photo, policy)
            ),
            "inline on the loop (the bug)": lambda: max_tick_gap(inline),
        },
        rounds=3,
    )

    generator = LocalGenerator()
    portrait = PORTRAIT.read_bytes()

    def view(which: View) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            started = time.perf_counter()
            await generator.generate(request(portrait, BEACH_WAVES, which))
            return time.perf_counter() - started

        return run

    await side_by_side("Local generator, total per view (512 px)", {str(v): view(v) for v in View})


if __name__ == "__main__":
    asyncio.run(main())
