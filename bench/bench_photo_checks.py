"""Photo checks: what accepting a generation costs with the upload's result already stored
(measured in the background when it was accepted) against one measured during the request.

Both cases upload the fixture portrait to the real server and time only `POST /image/generate`:
"stored" waits a second after the upload first (the person picking a style), "measured now"
generates at once, so the request waits for the measurement still running.

`check_cpu` prints, in process, the CPU (all threads, median of 3) of the intake and of the
photo check for the upload scenario's two 12 MP photos and the fixture portrait: the check as
measured (`measure_photo`, the face search), its decode alone, and the full scan of every
window that the search replaces, for comparison.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import cv2
import httpx

from app.core.imaging import DEFAULT_MAX_PIXELS
from app.files.intake import ImagePolicy, process_image
from app.integrations.generator.codec import decode_rgb
from app.integrations.generator.faces import find_faces
from app.photos.measure import measure_photo
from bench.common import ratio_line, side_by_side, sqlite_server
from bench.upload_bench import big_jpeg, selfie_jpeg
from tests.auth.flows import FRONTEND
from tests.e2e.test_accounts_e2e import _signed_up
from tests.generation.steps import portrait

PICKING_A_STYLE_S = 1.0


async def accept_latency() -> None:
    async with (
        sqlite_server(FREE_USER_CREDITS="100") as server,
        httpx.AsyncClient(
            base_url=server.base_url, headers={"Origin": FRONTEND}, timeout=60
        ) as client,
    ):
        await _signed_up(client, server.mail_dir)
        style_id = (await client.get("/api/v1/image/styles")).json()[0]["id"]

        def generate_after(wait_s: float) -> Callable[[], Awaitable[float]]:
            async def case() -> float:
                uploaded = await client.post(
                    "/api/v1/files/upload",
                    files={"file": ("selfie.jpg", portrait(), "image/jpeg")},
                )
                assert uploaded.status_code == 200, uploaded.text
                await asyncio.sleep(wait_s)
                started = time.perf_counter()
                response = await client.post(
                    "/api/v1/image/generate",
                    json={"image_input_url": uploaded.json()["key"], "style_id": style_id},
                )
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, response.text
                return elapsed

            return case

        medians = await side_by_side(
            "POST /image/generate, accept latency",
            {
                "result stored (upload + 1 s)": generate_after(PICKING_A_STYLE_S),
                "measured now (upload + 0 s)": generate_after(0.0),
            },
        )
        ratio_line(
            "measured / stored",
            medians,
            "measured now (upload + 0 s)",
            "result stored (upload + 1 s)",
        )


def _cpu_ms(work: Callable[[], object], runs: int = 3) -> float:
    spent = []
    for _ in range(runs):
        started = time.process_time()
        work()
        spent.append(time.process_time() - started)
    return round(statistics.median(spent) * 1000, 1)


def check_cpu() -> None:
    print("photo check CPU per upload (process time, median of 3):")
    for name, data in (
        ("selfie 12 MP", selfie_jpeg()),
        ("noise 12 MP", big_jpeg()),
        ("fixture portrait", portrait()),
    ):
        print(f"  {name}: {_photo_cpu(data)}")


def _photo_cpu(data: bytes) -> str:
    policy = ImagePolicy(max_bytes=20 * 2**20)
    stored = process_image(data, policy).data
    grey = cv2.cvtColor(decode_rgb(stored, 1024, DEFAULT_MAX_PIXELS), cv2.COLOR_RGB2GRAY)
    min_side = max(24, round(0.03 * min(grey.shape)))
    intake = _cpu_ms(lambda: process_image(data, policy))
    check = _cpu_ms(lambda: measure_photo(stored, DEFAULT_MAX_PIXELS))
    decode = _cpu_ms(lambda: decode_rgb(stored, 1024, DEFAULT_MAX_PIXELS))
    full = _cpu_ms(lambda: find_faces(grey, min_side))
    return (
        f"intake {intake} ms; check {check} ms (decode {decode} ms; a full scan of every"
        f" window, which the search replaces, {full} ms)"
    )


async def main() -> None:
    await asyncio.to_thread(check_cpu)
    await accept_latency()
