"""The local generator's cost stays off the event loop, and it reports each stage's time in its
log (the figures themselves are measured by bench/bench_generator.py, not asserted here)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from PIL import Image, ImageFile

from app.integrations.generator import LocalGenerator, View
from tests.integrations.generator.images import BEACH_WAVES, request
from tests.loop_probe import LoopProbe


async def test_the_event_loop_keeps_serving_during_a_generation(
    generator: LocalGenerator, portrait: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoding the selfie and encoding the result (the stages around the CPU-bound render) run
    in a worker thread: the loop serves other work while each is in progress."""
    probe = LoopProbe(monkeypatch, asyncio.get_running_loop())
    probe.wrap(Image, "open")
    probe.wrap(ImageFile.ImageFile, "load")
    probe.wrap(Image.Image, "save")

    for view in View:
        await generator.generate(request(portrait, BEACH_WAVES, view))

    assert {name for name, _, _ in probe.calls} == {"open", "load", "save"}
    assert len(probe.args("save")) >= len(View)
    assert all(probe.served()), probe.calls


async def test_each_generation_logs_its_stage_timings(
    generator: LocalGenerator, portrait: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="app.integrations.generator.pipeline")
    for view in View:
        await generator.generate(request(portrait, BEACH_WAVES, view))
        stages = caplog.records[-1].__dict__["stages_ms"]
        assert set(stages) == {"decode", "face", "mask", "render", "view", "encode"}
        assert all(isinstance(ms, float | int) and ms >= 0 for ms in stages.values())
