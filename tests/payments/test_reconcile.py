"""Reconciliation by itself (SPEC §6, RELIABILITY PAY-09): open transactions are asked about
periodically, all of them, oldest first, by one process at a time; never-paid ones expire
without touching credits, and a success that still comes in grants.

The loop is driven by its one-pass function (`run_once`) with a clock given to it, or through
the real lifespan with a tiny interval and a wait for its pass; never by timing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from app.core.config import Settings
from app.core.db import Database
from app.integrations.payments import CheckoutRequest
from app.integrations.payments.dodo import DodoPayments
from app.main import create_app
from app.models import CreditLedgerEntry, Transaction, TransactionStatus, User
from app.payments.reconcile import (
    MAX_BACKOFF_S,
    PaymentReconciler,
    reconcile_open_transactions,
)
from app.resources import Resources
from tests.conftest import build_test_resources
from tests.factories import create_user
from tests.integrations.payments import dodo_objects as objects
from tests.integrations.payments.fake_dodo import FakeDodo
from tests.payments.conftest import Shop

ABANDON_AFTER = timedelta(hours=48)
INTERVAL_S = 300.0


def later(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def reconciler(shop: Shop, when: datetime) -> PaymentReconciler:
    assert shop.resources.payments is not None
    return PaymentReconciler(
        shop.resources.database,
        shop.resources.payments,
        interval_s=INTERVAL_S,
        abandon_after=ABANDON_AFTER,
        clock=lambda: when,
    )


async def checkout(shop: Shop, quantity: int) -> str:
    """A checkout the buyer has not paid (yet): its session id."""
    response = await shop.client.post("/api/v1/payments/checkout", json={"quantity": quantity})
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


async def status_of(shop: Shop, session_id: str) -> str:
    listed = (await shop.client.get("/api/v1/payments/transactions")).json()
    return str(next(t["status"] for t in listed if t["session_id"] == session_id))


async def test_pay09_periodic_reconciler_grants_a_payment_whose_webhook_never_came(
    shop: Shop,
) -> None:
    session_id = await checkout(shop, 6)
    shop.dodo.complete_session(session_id)  # paid; the webhook is lost

    outcomes = await reconciler(shop, later(minutes=2)).run_once()
    assert outcomes.ran
    assert outcomes["granted"] == 1
    assert await shop.credits() == 9
    assert await status_of(shop, session_id) == "succeeded"

    again = await reconciler(shop, later(minutes=7)).run_once()
    assert again["granted"] == 0
    assert await shop.credits() == 9


async def test_transactions_younger_than_a_minute_are_not_asked_about(shop: Shop) -> None:
    session_id = await checkout(shop, 2)
    shop.dodo.complete_session(session_id)
    await reconciler(shop, datetime.now(UTC)).run_once()
    assert shop.dodo.requests_to(f"/checkouts/{session_id}") == 0
    assert await shop.credits() == 3


async def test_pay09_reconciler_started_by_the_lifespan_grants_by_itself(shop: Shop) -> None:
    session_id = await checkout(shop, 4)
    shop.dodo.complete_session(session_id)
    # Two minutes old, as if the webhook had been lost a while ago.
    async with shop.resources.database.unit_of_work() as session:
        await session.execute(
            update(Transaction)
            .where(Transaction.session_id == session_id)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=2))
        )
    # The first pass runs at start; the long interval keeps the loop asleep afterwards, so it
    # is stopped between passes, never mid-query on the test's shared connection.
    configured = shop.resources.settings.model_copy(update={"PAYMENTS_RECONCILE_INTERVAL_S": 3600})
    built = build_test_resources(configured, shop.resources.database)
    built.reconcile_payments = True
    app = create_app(configured, resources=built)
    async with app.router.lifespan_context(app):
        assert built.reconciler is not None
        await asyncio.wait_for(built.reconciler.wait_for_passes(1), timeout=30)
        await built.stop_background()
    assert await shop.credits() == 7
    assert await status_of(shop, session_id) == "succeeded"


async def test_interval_zero_turns_the_reconciler_off(shop: Shop) -> None:
    configured = shop.resources.settings.model_copy(update={"PAYMENTS_RECONCILE_INTERVAL_S": 0})
    built = build_test_resources(configured, shop.resources.database)
    built.reconcile_payments = True
    app = create_app(configured, resources=built)
    async with app.router.lifespan_context(app):
        assert built.reconciler is None


async def test_the_scan_pages_through_every_open_transaction_oldest_first(shop: Shop) -> None:
    sessions = [await checkout(shop, quantity) for quantity in (1, 2, 3, 4, 5)]
    for session_id in sessions[::2]:
        shop.dodo.complete_session(session_id)
    assert shop.resources.payments is not None
    outcomes = await reconcile_open_transactions(
        shop.resources.database, shop.resources.payments, page_size=2
    )
    asked = [
        r.path.removeprefix("/checkouts/")
        for r in shop.dodo.requests
        if r.method == "GET" and r.path.removeprefix("/checkouts/") in sessions
    ]
    assert asked == sessions, "every open transaction, oldest first, over three pages"
    assert outcomes["granted"] == 3
    assert await shop.credits() == 3 + 1 + 3 + 5


async def test_an_unpaid_transaction_expires_after_the_abandon_window(shop: Shop) -> None:
    session_id = await checkout(shop, 5)
    within = await reconciler(shop, later(hours=47)).run_once()
    assert within["expired"] == 0
    assert await status_of(shop, session_id) == "created"

    past = await reconciler(shop, later(hours=49)).run_once()
    assert past["expired"] >= 1
    assert await status_of(shop, session_id) == "expired"
    assert await shop.credits() == 3, "expiry touches no credits"
    shop.dodo.reset()
    await reconciler(shop, later(hours=50)).run_once()
    assert shop.dodo.requests_to(f"/checkouts/{session_id}") == 0, "expired is not scanned"


async def test_a_late_webhook_success_on_an_expired_transaction_still_grants(shop: Shop) -> None:
    session_id = await checkout(shop, 5)
    await reconciler(shop, later(hours=49)).run_once()
    assert await status_of(shop, session_id) == "expired"

    payment = shop.dodo.complete_session(session_id)
    assert (await shop.deliver(shop.dodo.payment_event(payment["payment_id"]))).status_code == 200
    assert await shop.credits() == 8
    assert await status_of(shop, session_id) == "succeeded"


async def test_the_return_page_grants_a_late_success_on_an_expired_transaction(
    shop: Shop,
) -> None:
    session_id = await checkout(shop, 2)
    await reconciler(shop, later(hours=49)).run_once()
    payment = shop.dodo.complete_session(session_id)
    answer = await shop.client.get(f"/api/v1/payments/transaction/{payment['payment_id']}")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["credits_added"]) == ("succeeded", 2)
    assert await shop.credits() == 5


async def test_a_provider_outage_ends_the_pass_and_the_next_one_waits_longer(
    shop: Shop,
) -> None:
    sessions = [await checkout(shop, 1) for _ in range(3)]
    for session_id in sessions:
        shop.dodo.complete_session(session_id)
    loop = reconciler(shop, later(minutes=2))
    shop.dodo.fail_next(503, times=12, path_prefix="/checkouts/")  # the next 12 passes
    first = await loop.run_once()
    assert first.stopped_by is not None
    assert first["provider_error"] == 1
    gets = sum(shop.dodo.requests_to(f"/checkouts/{s}") for s in sessions)
    assert gets == 1, "one failure stops the pass instead of asking about every transaction"
    assert loop.next_delay(first) == 2 * INTERVAL_S
    assert loop.next_delay(await loop.run_once()) == 4 * INTERVAL_S
    for _ in range(10):
        assert loop.next_delay(await loop.run_once()) <= MAX_BACKOFF_S

    shop.dodo.fail_next(429, path_prefix="/checkouts/", headers={"retry-after": "7200"})
    assert loop.next_delay(await loop.run_once()) == 7200, "the provider's Retry-After wins"

    recovered = await loop.run_once()
    assert recovered.stopped_by is None
    assert loop.next_delay(recovered) == INTERVAL_S
    assert await shop.credits() == 6


# -- two processes at once (PostgreSQL) ------------------------------------------------------


@pytest.fixture
async def two_processes(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two Databases with their own engines, as two API processes have: their writes commit."""
    first, second = Database.from_url(database_url), Database.from_url(database_url)
    yield first, second
    await first.dispose()
    await second.dispose()


async def _committed_paid_transaction(
    database: Database, provider: DodoPayments, dodo: FakeDodo, quantity: int
) -> tuple[int, int, str]:
    """(user id, transaction id, session id) of a paid checkout whose webhook never came."""
    async with database.unit_of_work() as session:
        user = await create_user(session, credits=0)
        transaction = Transaction(
            user_id=user.id,
            product_id=objects.PRODUCT_ID,
            quantity=quantity,
            amount_minor=quantity * objects.UNIT_PRICE_MINOR,
            currency=objects.CURRENCY,
            status=TransactionStatus.CREATED,
        )
        session.add(transaction)
        await session.flush()
        user_id, transaction_id = user.id, transaction.id
    created = await provider.create_checkout(
        CheckoutRequest(
            product_id=objects.PRODUCT_ID,
            quantity=quantity,
            customer_email="racer@example.com",
            metadata={"user_id": str(user_id), "transaction_id": str(transaction_id)},
        )
    )
    async with database.unit_of_work() as session:
        await session.execute(
            update(Transaction)
            .where(Transaction.id == transaction_id)
            .values(session_id=created.session_id)
        )
    dodo.complete_session(created.session_id)
    return user_id, transaction_id, created.session_id


async def _ledger_rows(database: Database, transaction_id: int) -> int:
    async with database.unit_of_work(write=False) as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(CreditLedgerEntry)
            .where(
                CreditLedgerEntry.reference_type == "transaction",
                CreditLedgerEntry.reference_id == str(transaction_id),
            )
        )
    return int(rows or 0)


@pytest.mark.pg_only
async def test_pay09_two_processes_reconciling_at_once_grant_once(
    dodo: FakeDodo, two_processes: tuple[Database, Database]
) -> None:
    dodo.reset()
    first, second = two_processes
    adapters = [
        DodoPayments(dodo.api_key, mode="test_mode", base_url=dodo.base_url, max_retries=0)
        for _ in range(2)
    ]
    user_id, transaction_id, session_id = await _committed_paid_transaction(
        first, adapters[0], dodo, 5
    )
    try:
        # The first process is held inside its pass, mid provider call, holding the lock...
        gate = dodo.gate("/checkouts/")
        holder = asyncio.create_task(reconcile_open_transactions(first, adapters[0]))
        await asyncio.to_thread(gate.entered.wait, 30)
        # ...when the second one's pass comes round: it does nothing.
        skipped = await reconcile_open_transactions(second, adapters[1])
        gate.release.set()
        done = await holder
        assert not skipped.ran
        assert done.ran
        assert done["granted"] >= 1

        # And both at once, over and over: whoever runs, the ledger has one row.
        results = await asyncio.gather(
            *(
                reconcile_open_transactions(db, adapter)
                for _ in range(5)
                for db, adapter in zip(two_processes, adapters, strict=True)
            )
        )
        rows = await _ledger_rows(second, transaction_id)
        asks = dodo.requests_to(f"/checkouts/{session_id}")
        ran = 1 + sum(result.ran for result in results)
        print(f"PAY-09 passes={1 + len(results)} ran={ran} ledger_rows={rows} lookups={asks}")
        assert rows == 1
        assert asks == 1, "one lookup: the skipped pass asked nothing, later ones found it closed"
        async with second.unit_of_work(write=False) as session:
            user = await session.get(User, user_id)
            transaction = await session.get(Transaction, transaction_id)
            assert user is not None
            assert transaction is not None
            assert (user.credits, transaction.status, transaction.credits_added) == (
                5,
                "succeeded",
                5,
            )
    finally:
        for adapter in adapters:
            await adapter.aclose()
        async with first.unit_of_work() as session:
            await session.execute(delete(User).where(User.id == user_id))


async def test_a_job_worker_process_runs_the_reconciler_too(settings: Settings) -> None:
    """`Resources.start(jobs=False)` is how a taskiq worker process starts (app/jobs/worker.py):
    it reconciles as well, the lock deciding which process does a pass."""
    local = settings.model_copy(
        update={"PAYMENTS_BACKEND": "local", "PAYMENTS_RECONCILE_INTERVAL_S": 3600}
    )
    worker = Resources.build(local)
    try:
        await worker.start(jobs=False)
        assert worker.reconciler is not None
        await asyncio.wait_for(worker.reconciler.wait_for_passes(1), timeout=30)
    finally:
        await worker.close()
