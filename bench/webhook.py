"""Webhook scenario (PAY-06): Dodo webhook deliveries at a steady 50 req/s (open loop: each
delivery leaves at its scheduled time whatever the earlier ones do) to a server of ours on the
bench database whose Dodo is the loopback fake; p50/p99 of the acknowledgements."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.options import Options
from bench.servers import Server, start_ours
from tests.auth.flows import FRONTEND
from tests.e2e.test_accounts_e2e import _signed_up
from tests.e2e.test_payments_e2e import _paid
from tests.integrations.payments import dodo_objects as objects
from tests.integrations.payments.fake_dodo import API_KEY, WEBHOOK_SECRET, FakeDodo

RATE_PER_S = 50
PAYMENTS = 10


def dodo_settings(dodo: FakeDodo) -> dict[str, str]:
    return {
        "PAYMENTS_BACKEND": "dodo",
        "DODO_PAYMENTS_API_KEY": API_KEY,
        "DODO_PAYMENTS_BASE_URL": dodo.base_url,
        "DODO_PAYMENTS_MAX_RETRIES": "0",
        "DODO_PAYMENTS_PRODUCT_ID": objects.PRODUCT_ID,
        "DODO_PAYMENTS_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CREDIT_PRICE_MINOR": str(objects.UNIT_PRICE_MINOR),
        "PAYMENT_CURRENCY": objects.CURRENCY,
    }


async def _deliveries(
    server: Server, dodo: FakeDodo, payment_ids: list[str], seconds: float
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    count = int(RATE_PER_S * seconds)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as dodo_side:

        async def one(i: int, at: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            delivery = dodo.payment_event(payment_ids[i % len(payment_ids)])
            started = time.perf_counter()
            answer = await dodo.deliver(dodo_side, "/api/v1/payments/webhook", delivery)
            latencies.append(time.perf_counter() - started)
            errors += 0 if answer.status_code == 200 else 1

        start = time.perf_counter() + 0.1
        await asyncio.gather(*(one(i, start + i / RATE_PER_S) for i in range(count)))
    return latencies, errors


async def scenario_webhook(env: dict[str, str], workdir: Path, options: Options) -> dict[str, Any]:
    async with FakeDodo() as dodo:
        server = await start_ours({**env, **dodo_settings(dodo)}, workdir, name="ours-dodo")
        try:
            async with httpx.AsyncClient(
                base_url=server.base_url, headers={"Origin": FRONTEND}, timeout=30
            ) as client:
                await _signed_up(client, workdir / "mail")
                payment_ids = [await _paid(client, dodo, 1) for _ in range(PAYMENTS)]
            p50s: list[float] = []
            p99s: list[float] = []
            errors = total = 0
            for _ in range(options.rounds):
                latencies, failed = await _deliveries(server, dodo, payment_ids, options.duration_s)
                cuts = statistics.quantiles(latencies, n=100)
                p50s.append(cuts[49] * 1000)
                p99s.append(cuts[98] * 1000)
                errors += failed
                total += len(latencies)
        finally:
            await server.stop()
    return {
        "rate_per_s": RATE_PER_S,
        "deliveries": total,
        "p50_ms": round(statistics.median(p50s), 2),
        "p99_ms": round(statistics.median(p99s), 2),
        "errors": errors,
        "goals": {"p99_ms_max": 100},
    }
