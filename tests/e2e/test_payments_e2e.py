"""Payments against the real server process and the loopback fake Dodo: concurrent duplicate
deliveries over real connections (PAY-03) and acknowledgement without waiting for Dodo (PAY-06)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from app.core.db import Database
from app.integrations.payments.dodo import DodoPayments
from app.models import CreditLedgerEntry, CreditReason
from app.payments.reconcile import reconcile_open_transactions
from tests.e2e.test_accounts_e2e import _signed_up
from tests.e2e.test_tryon_e2e import _client
from tests.integrations.payments import dodo_objects as objects
from tests.integrations.payments.fake_dodo import API_KEY, WEBHOOK_SECRET, FakeDodo
from tests.live_server import LiveServer, server_env, start_live_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def dodo() -> AsyncIterator[FakeDodo]:
    async with FakeDodo() as fake:
        yield fake


@pytest.fixture(scope="module")
async def shop_server(
    dodo: FakeDodo, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("shop")
    server = await start_live_server(
        server_env(
            database_url,
            workdir,
            PAYMENTS_BACKEND="dodo",
            DODO_PAYMENTS_API_KEY=API_KEY,
            DODO_PAYMENTS_BASE_URL=dodo.base_url,
            DODO_PAYMENTS_MAX_RETRIES="0",
            DODO_PAYMENTS_PRODUCT_ID=objects.PRODUCT_ID,
            DODO_PAYMENTS_WEBHOOK_SECRET=WEBHOOK_SECRET,
            CREDIT_PRICE_MINOR=str(objects.UNIT_PRICE_MINOR),
            PAYMENT_CURRENCY=objects.CURRENCY,
        ),
        workdir,
    )
    try:
        yield server
    finally:
        await server.stop()


async def _paid(client: httpx.AsyncClient, dodo: FakeDodo, quantity: int) -> str:
    response = await client.post("/api/v1/payments/checkout", json={"quantity": quantity})
    assert response.status_code == 200, response.text
    return str(dodo.complete_session(response.json()["session_id"])["payment_id"])


async def test_pay03_concurrent_deliveries_of_one_payment_grant_once(
    shop_server: LiveServer, dodo: FakeDodo
) -> None:
    async with _client(shop_server) as client:
        await _signed_up(client, shop_server.mail_dir)
        payment_id = await _paid(client, dodo, 5)
        deliveries = [dodo.payment_event(payment_id) for _ in range(10)]
        assert len({d.webhook_id for d in deliveries}) == 10
        async with httpx.AsyncClient(
            base_url=shop_server.base_url, limits=httpx.Limits(max_connections=10), timeout=30
        ) as dodo_side:
            answers = await asyncio.gather(
                *(dodo.deliver(dodo_side, "/api/v1/payments/webhook", d) for d in deliveries)
            )
        assert [a.status_code for a in answers] == [200] * 10
        assert (await client.get("/api/v1/user/credits")).json() == 8
        listed = (await client.get("/api/v1/payments/transactions")).json()
        assert (listed[0]["status"], listed[0]["credits_added"]) == ("succeeded", 5)


async def test_pay08_taxed_discounted_payment_granted_once_with_everything_racing_for_real(
    shop_server: LiveServer, dodo: FakeDodo, database_url: str
) -> None:
    """PAY-08 over real connections: the server process and a reconciler in this process, on
    the real database (row locks on PostgreSQL, BEGIN IMMEDIATE on SQLite)."""
    quantity = 10
    discounted = quantity * objects.UNIT_PRICE_MINOR * 80 // 100
    tax = discounted * 18 // 100
    async with _client(shop_server) as client:
        await _signed_up(client, shop_server.mail_dir)
        me = (await client.get("/api/v1/user/me")).json()
        started = await client.post("/api/v1/payments/checkout", json={"quantity": quantity})
        session_id = started.json()["session_id"]
        payment = dodo.add_payment(
            status="succeeded",
            total_amount=discounted + tax,
            tax=tax,
            discount_id="dsc_20off",
            metadata=dodo.session(session_id).request["metadata"],
            checkout_session_id=session_id,
            quantity=quantity,
        )
        payment_id = payment["payment_id"]
        first, second = dodo.payment_event(payment_id), dodo.payment_event(payment_id)
        database = Database.from_url(database_url)
        provider = DodoPayments(API_KEY, mode="test_mode", base_url=dodo.base_url, max_retries=0)
        try:
            async with httpx.AsyncClient(base_url=shop_server.base_url, timeout=30) as dodo_side:
                hook = "/api/v1/payments/webhook"
                answers = await asyncio.gather(
                    dodo.deliver(dodo_side, hook, first),
                    dodo.deliver(dodo_side, hook, first),
                    dodo.deliver(dodo_side, hook, second),
                    client.get(f"/api/v1/payments/transaction/{payment_id}"),
                    reconcile_open_transactions(database, provider),
                )
            async with database.unit_of_work(write=False) as session:
                purchases = list(
                    await session.scalars(
                        select(CreditLedgerEntry.delta).where(
                            CreditLedgerEntry.user_id == me["id"],
                            CreditLedgerEntry.reason == CreditReason.PURCHASE.value,
                        )
                    )
                )
        finally:
            await provider.aclose()
            await database.dispose()
        balance = (await client.get("/api/v1/user/credits")).json()
    print(
        f"\nPAY-08 e2e race: purchase ledger rows={len(purchases)} "
        f"credits granted={sum(purchases)} balance={balance} reconcile={dict(answers[4])}"
    )
    assert [a.status_code for a in answers[:4]] == [200] * 4
    assert purchases == [quantity]
    assert balance == 3 + quantity


async def test_pay06_webhooks_are_acknowledged_while_dodo_holds_every_answer(
    shop_server: LiveServer, dodo: FakeDodo
) -> None:
    """The webhook answers without waiting for Dodo: with every Dodo answer held until the block
    ends, all deliveries are still acknowledged inside it (the latency figures are measured by
    bench/bench_webhooks.py). A webhook path that called Dodo would hang until the client's
    guard timeout and fail."""
    async with _client(shop_server) as client:
        await _signed_up(client, shop_server.mail_dir)
        payment_ids = [await _paid(client, dodo, 1) for _ in range(5)]
        with dodo.answers_held():
            async with httpx.AsyncClient(base_url=shop_server.base_url, timeout=30) as dodo_side:
                answers = await asyncio.gather(
                    *(
                        dodo.deliver(dodo_side, "/api/v1/payments/webhook", delivery)
                        for payment_id in payment_ids
                        for delivery in (dodo.payment_event(payment_id),) * 2
                    )
                )
            assert [a.status_code for a in answers] == [200] * 10
        assert (await client.get("/api/v1/user/credits")).json() == 3 + 5


async def test_local_test_checkout_page_buys_credits_end_to_end(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("local-shop")
    server = await start_live_server(
        server_env(database_url, workdir, PAYMENTS_BACKEND="local"),
        workdir,
    )
    try:
        async with _client(server) as client:
            await _signed_up(client, server.mail_dir)
            started = await client.post("/api/v1/payments/checkout", json={"quantity": 10})
            assert started.status_code == 200, started.text
            checkout_url = started.json()["checkout_url"]
            async with httpx.AsyncClient(timeout=30) as browser:
                page = await browser.get(checkout_url)
                assert page.status_code == 200
                assert "Test checkout" in page.text
                assert "10.00 INR" in page.text, "1 rupee per credit, as the web app shows"
                paid = await browser.post(f"{checkout_url}/pay", follow_redirects=False)
            assert paid.status_code == 303
            location = httpx.URL(paid.headers["location"])
            assert str(location).startswith("http://localhost:5173/payment?")
            payment_id = location.params["payment_id"]
            transaction = (await client.get(f"/api/v1/payments/transaction/{payment_id}")).json()
            assert (transaction["status"], transaction["credits_added"]) == ("succeeded", 10)
            assert (await client.get("/api/v1/user/me")).json()["credits"] == 13
    finally:
        await server.stop()
