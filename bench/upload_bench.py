"""Upload scenario: a 4 MiB 12 MP JPEG through `POST /api/v1/files/upload` from 4 concurrent
clients, alone and beside status polling (wrk c64), interleaved with status alone; upload p95,
and status p99 beside uploads against status alone.

Two photos, each reported: `selfie`, the fixture portrait enlarged to a 3000x4000 phone photo
with mild sensor noise (one face of about a quarter of the shorter side, like a real selfie),
the goal's figure; and `noise`, the 12 MP noise picture this scenario used before, which has no
face, so its photo check scans every window (the most the check costs per pixel)."""

from __future__ import annotations

import asyncio
import io
import random
import statistics
import time
from typing import Any

import httpx
import numpy as np
from PIL import Image

from bench.jobs_bench import bearer
from bench.options import Options
from bench.servers import Server
from bench.stats import median_of, ratio
from bench.wrk import WrkResult, run_wrk

UPLOAD_USER = 4
CLIENTS = 4
TARGET_BYTES = 4 * 2**20


def big_jpeg() -> bytes:
    """4000x3000 (12 MP), noise enough to weigh about 4 MiB at the chosen quality."""
    rng = random.Random(14)
    small = Image.frombytes("RGB", (400, 300), bytes(rng.getrandbits(8) for _ in range(360_000)))
    return _about_target(small.resize((4000, 3000), Image.Resampling.BICUBIC))


def selfie_jpeg() -> bytes:
    """3000x4000 (12 MP): the fixture portrait enlarged (its face a quarter of the width) with
    Gaussian noise of sigma 6 per channel, a phone sensor's grain, which brings it to ~4 MiB."""
    from tests.generation.steps import portrait

    face = Image.open(io.BytesIO(portrait())).convert("RGB")
    large = face.resize((4000, 4000), Image.Resampling.BICUBIC).crop((500, 0, 3500, 4000))
    pixels = np.asarray(large, dtype=np.int16)
    grain = np.random.default_rng(14).normal(0.0, 6.0, pixels.shape).astype(np.int16)
    return _about_target(Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8)))


PHOTOS = {"selfie": selfie_jpeg, "noise": big_jpeg}


def _about_target(image: Image.Image) -> bytes:
    best = b""
    for quality in (70, 80, 85, 90, 95):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        best = buffer.getvalue()
        if len(best) >= TARGET_BYTES * 0.95:
            break
    return best


async def _uploaders(
    server: Server, token: str, data: bytes, stop: asyncio.Event
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0

    async def loop() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            while not stop.is_set():
                started = time.perf_counter()
                answer = await client.post(
                    "/api/v1/files/upload",
                    files={"file": ("big.jpg", data, "image/jpeg")},
                    headers=bearer(token),
                )
                latencies.append(time.perf_counter() - started)
                errors += 0 if answer.status_code == 200 else 1

    await asyncio.gather(*(loop() for _ in range(CLIENTS)))
    return latencies, errors


def _p95_ms(latencies: list[float]) -> float:
    if len(latencies) < 2:
        return latencies[0] * 1000 if latencies else 0.0
    return statistics.quantiles(latencies, n=20)[-1] * 1000


async def scenario_upload(
    ours: Server, status_paths: list[str], tokens: dict[int, str], options: Options
) -> dict[str, Any]:
    """The selfie's figures at the top level (the goal's), the noise picture's under "noise"."""
    results: dict[str, Any] = {}
    for name, make in PHOTOS.items():
        data = await asyncio.to_thread(make)
        results[name] = await _photo_rounds(ours, status_paths, tokens, options, data)
    return {**results["selfie"], "photo": "selfie", "noise": results["noise"]}


async def _photo_rounds(
    ours: Server, status_paths: list[str], tokens: dict[int, str], options: Options, data: bytes
) -> dict[str, Any]:
    cookie = {"Cookie": f"access_token={tokens[1]}"}
    solo: list[WrkResult] = []
    beside: list[WrkResult] = []
    p95_alone: list[float] = []
    p95_beside: list[float] = []
    errors = 0
    for _ in range(options.rounds):
        solo.append(
            await run_wrk(
                ours.base_url,
                status_paths,
                connections=64,
                duration_s=options.duration_s,
                headers=cookie,
            )
        )
        stop = asyncio.Event()
        task = asyncio.create_task(_uploaders(ours, tokens[UPLOAD_USER], data, stop))
        await asyncio.sleep(options.duration_s)
        stop.set()
        latencies, failed = await task
        p95_alone.append(_p95_ms(latencies))
        errors += failed
        stop = asyncio.Event()
        task = asyncio.create_task(_uploaders(ours, tokens[UPLOAD_USER], data, stop))
        try:
            beside.append(
                await run_wrk(
                    ours.base_url,
                    status_paths,
                    connections=64,
                    duration_s=options.duration_s,
                    headers=cookie,
                )
            )
        finally:
            stop.set()
            latencies, failed = await task
        p95_beside.append(_p95_ms(latencies))
        errors += failed
    status_solo, status_beside = median_of(solo), median_of(beside)
    return {
        "image_bytes": len(data),
        "upload_p95_ms_alone": round(statistics.median(p95_alone), 1),
        "upload_p95_ms_beside_status": round(statistics.median(p95_beside), 1),
        "upload_errors": errors,
        "status_solo": status_solo,
        "status_beside_uploads": status_beside,
        "status_p99_ratio": ratio(status_beside["p99_ms"], status_solo["p99_ms"]),
        "goals": {"upload_p95_ms_max": 600, "status_p99_ratio_max": 2.0},
    }
