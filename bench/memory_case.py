"""One memory measurement in a fresh process (RSS never shrinks back reliably, so each sample
gets its own): `python -m bench.memory_case CASE` prints the peak RSS growth in bytes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable

import psutil
from PIL import Image

from app.core.errors import AppError
from app.files.intake import ImagePolicy, process_image, read_capped
from tests.files.test_intake import _png_bomb

MiB = 1024 * 1024


def _photo_png(side: int) -> bytes:
    noise = Image.effect_noise((side, side), 40).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    return buffer.getvalue()


def _stream_50_mib() -> None:
    async def body() -> AsyncIterator[bytes]:
        chunk = bytes(64 * 1024)
        for _ in range(50 * 16):
            yield chunk

    with contextlib.suppress(AppError):
        asyncio.run(read_capped(body(), 10 * MiB))


def _bomb() -> None:
    data = _png_bomb(12_000, 12_000)
    with contextlib.suppress(AppError):
        process_image(data, ImagePolicy(max_bytes=10 * MiB))


CASES: dict[str, Callable[[], object]] = {
    "stream-50MiB-body": _stream_50_mib,
    "png-bomb-12000x12000": _bomb,
    "png-photo-2000x2000": lambda: process_image(_photo_png(2000), ImagePolicy(max_bytes=50 * MiB)),
}


def main() -> None:
    run = CASES[sys.argv[1]]
    process = psutil.Process()
    stop = threading.Event()
    baseline = peak = process.memory_info().rss

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    run()
    stop.set()
    sampler.join()
    peak = max(peak, process.memory_info().rss)
    print(peak - baseline)


if __name__ == "__main__":
    main()
