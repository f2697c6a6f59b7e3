"""The local generator's cost: it must never stall the event loop, and stays around a second."""

from __future__ import annotations

import logging
import time

import anyio
import pytest

from app.integrations.generator import LocalGenerator, View
from tests.integrations.generator.images import BEACH_WAVES, decode, encode, request, resized


async def test_the_event_loop_keeps_ticking_during_a_generation(
    generator: LocalGenerator, portrait: bytes
) -> None:
    big = encode(resized(decode(portrait), 768))
    gaps: list[float] = []
    done = anyio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await anyio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        for view in View:
            await generator.generate(request(big, BEACH_WAVES, view))
        done.set()

    assert len(gaps) > 20
    assert max(gaps) < 0.1


async def test_stage_timings_at_512_px(
    generator: LocalGenerator, portrait: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Prints each stage's time (run with -s to see them); bounds are loose, for slow CI."""
    caplog.set_level(logging.DEBUG, logger="app.integrations.generator.pipeline")
    for view in View:
        started = time.perf_counter()
        await generator.generate(request(portrait, BEACH_WAVES, view))
        total_ms = (time.perf_counter() - started) * 1000
        stages = caplog.records[-1].__dict__["stages_ms"]
        print(f"\n{view:>5}: total {total_ms:6.1f} ms  stages {stages}")
        assert set(stages) == {"decode", "face", "mask", "render", "view", "encode"}
        assert total_ms < 5000
