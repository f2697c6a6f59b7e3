"""Photo checks: what accepting a generation costs with the upload's result already stored
(measured in the background when it was accepted) against one measured during the request.

Both cases upload the fixture portrait to the real server and time only `POST /image/generate`:
"stored" waits a second after the upload first (the person picking a style), "measured now"
generates at once, so the request waits for the measurement still running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from bench.common import ratio_line, side_by_side, sqlite_server
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


async def main() -> None:
    await accept_latency()
