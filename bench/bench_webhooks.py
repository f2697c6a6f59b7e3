"""PAY-06 figures: webhook acknowledgement latency on the real server, with the loopback fake Dodo
answering at once and with every Dodo answer delayed by 2 s (the webhook must not wait for it:
both figures should be alike, far under 200 ms)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx

from bench.common import side_by_side, sqlite_server
from tests.auth.flows import FRONTEND
from tests.e2e.test_accounts_e2e import _signed_up
from tests.e2e.test_payments_e2e import _paid
from tests.integrations.payments import dodo_objects as objects
from tests.integrations.payments.fake_dodo import API_KEY, WEBHOOK_SECRET, FakeDodo

DELIVERIES_PER_ROUND = 40


async def main() -> None:
    async with (
        FakeDodo() as dodo,
        sqlite_server(
            PAYMENTS_BACKEND="dodo",
            DODO_PAYMENTS_API_KEY=API_KEY,
            DODO_PAYMENTS_BASE_URL=dodo.base_url,
            DODO_PAYMENTS_MAX_RETRIES="0",
            DODO_PAYMENTS_PRODUCT_ID=objects.PRODUCT_ID,
            DODO_PAYMENTS_WEBHOOK_SECRET=WEBHOOK_SECRET,
            CREDIT_PRICE_MINOR=str(objects.UNIT_PRICE_MINOR),
            PAYMENT_CURRENCY=objects.CURRENCY,
        ) as server,
    ):
        async with httpx.AsyncClient(
            base_url=server.base_url, headers={"Origin": FRONTEND}, timeout=30
        ) as client:
            await _signed_up(client, server.mail_dir)
            payment_ids = [await _paid(client, dodo, 1) for _ in range(10)]

        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as dodo_side:

            def deliveries(delay_s: float) -> Callable[[], Awaitable[float]]:
                async def case() -> float:
                    """p99 (here: the 2nd slowest of 40) of one round of deliveries."""
                    dodo.delay_s = delay_s
                    latencies = []
                    try:
                        for i in range(DELIVERIES_PER_ROUND):
                            delivery = dodo.payment_event(payment_ids[i % len(payment_ids)])
                            started = time.perf_counter()
                            answer = await dodo.deliver(
                                dodo_side, "/api/v1/payments/webhook", delivery
                            )
                            latencies.append(time.perf_counter() - started)
                            assert answer.status_code == 200, answer.text
                    finally:
                        dodo.delay_s = 0.0
                    return statistics.quantiles(latencies, n=20)[-1]

                return case

            await side_by_side(
                f"PAY-06 webhook p95 over {DELIVERIES_PER_ROUND} deliveries (target p99 < 200 ms)",
                {
                    "Dodo answers at once": deliveries(0.0),
                    "Dodo answers after 2 s": deliveries(2.0),
                },
                rounds=3,
            )


if __name__ == "__main__":
    asyncio.run(main())
