"""Payments as real checkouts produce them (issue 10; SPEC §6; PAY-04, PAY-05, PAY-08, PAY-10):
tax on top of a discounted price, another currency, a smaller cart, refunds in parts, a
declined card retried on the same checkout, payments we cannot match, and the checkout calling
Dodo with no database transaction open. Dodo is the loopback fake; the app is the real one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.models import CreditLedgerEntry, CreditReason, Transaction, WebhookEvent
from app.payments.reconcile import reconcile_open_transactions
from tests.integrations.payments import dodo_objects as objects
from tests.payments.conftest import Shop

CHECKOUT = "/api/v1/payments/checkout"


async def _checkout(shop: Shop, quantity: int) -> tuple[str, dict[str, Any]]:
    """Start a checkout; its session id and the metadata Dodo will copy onto its payments."""
    response = await shop.client.post(CHECKOUT, json={"quantity": quantity})
    assert response.status_code == 200, response.text
    session_id = str(response.json()["session_id"])
    metadata: dict[str, Any] = shop.dodo.session(session_id).request["metadata"]
    return session_id, metadata


async def _paid(shop: Shop, quantity: int, **fields: Any) -> dict[str, Any]:
    """Checkout for `quantity`, then a payment on it with the given Dodo fields."""
    session_id, metadata = await _checkout(shop, quantity)
    defaults: dict[str, Any] = {
        "status": "succeeded",
        "total_amount": quantity * objects.UNIT_PRICE_MINOR,
        "metadata": metadata,
        "checkout_session_id": session_id,
        "quantity": quantity,
    }
    return shop.dodo.add_payment(**{**defaults, **fields})


async def _transaction(session: AsyncSession, payment_id: str) -> Transaction:
    found = await session.scalar(select(Transaction).where(Transaction.payment_id == payment_id))
    assert found is not None
    await session.refresh(found)
    return found


async def _user_id(shop: Shop) -> int:
    return int((await shop.client.get("/api/v1/user/me")).json()["id"])


async def _ledger(session: AsyncSession, user_id: int, reason: CreditReason) -> list[int]:
    rows = await session.scalars(
        select(CreditLedgerEntry.delta).where(
            CreditLedgerEntry.user_id == user_id, CreditLedgerEntry.reason == reason.value
        )
    )
    return list(rows)


async def test_pay08_taxed_discounted_purchase_grants_once_with_everything_racing(
    shop: Shop, session: AsyncSession
) -> None:
    quantity = 10
    discounted = quantity * objects.UNIT_PRICE_MINOR * 80 // 100  # 20 % off: 4000
    tax = discounted * 18 // 100  # 18 % GST on top: 720
    payment = await _paid(
        shop, quantity, total_amount=discounted + tax, tax=tax, discount_id="dsc_20off"
    )
    payment_id = payment["payment_id"]
    first = shop.dodo.payment_event(payment_id)
    second = shop.dodo.payment_event(payment_id)  # the same payment, another delivery id
    provider = shop.resources.payments
    assert provider is not None

    webhook, replay, other_delivery, reconciled, return_page = await asyncio.gather(
        shop.deliver(first),
        shop.deliver(first),
        shop.deliver(second),
        reconcile_open_transactions(shop.resources.database, provider),
        shop.client.get(f"/api/v1/payments/transaction/{payment_id}"),
    )

    assert [webhook.status_code, replay.status_code, other_delivery.status_code] == [200] * 3
    assert return_page.status_code == 200
    assert return_page.json()["status"] == "succeeded"
    user_id = await _user_id(shop)
    purchases = await _ledger(session, user_id, CreditReason.PURCHASE)
    outcomes = list(
        await session.scalars(
            select(WebhookEvent.outcome).where(
                WebhookEvent.webhook_id.in_([first.webhook_id, second.webhook_id])
            )
        )
    )
    balance = await shop.credits()
    print(
        f"\nPAY-08 race (webhook, replay, 2nd delivery id, reconcile, return page): "
        f"purchase ledger rows={len(purchases)} credits granted={sum(purchases)} "
        f"balance={balance} webhook outcomes={sorted(map(str, outcomes))} "
        f"reconcile={dict(reconciled)}"
    )
    assert purchases == [quantity], "exactly the stored quantity, exactly once"
    assert balance == 3 + quantity
    transaction = await _transaction(session, payment_id)
    assert (transaction.status, transaction.credits_added) == ("succeeded", quantity)
    assert (transaction.amount_minor, transaction.tax_minor, transaction.currency) == (
        4720,
        720,
        "INR",
    )
    assert transaction.discount_id == "dsc_20off"
    shown = return_page.json()
    assert (shown["amount_minor"], shown["amount"], shown["tax_minor"]) == (4720, 47.2, 720)


async def test_pay08_payment_in_another_currency_grants_and_records_what_settles(
    shop: Shop,
) -> None:
    payment = await _paid(
        shop,
        10,
        total_amount=7080,  # USD cents, 18 % tax included
        currency="USD",
        tax=1080,
        settlement_amount=500_000,  # what we receive, in INR paise
        settlement_currency="INR",
    )
    answer = await shop.deliver(shop.dodo.payment_event(payment["payment_id"]))
    assert answer.status_code == 200
    assert await shop.credits() == 13
    shown = (await shop.client.get(f"/api/v1/payments/transaction/{payment['payment_id']}")).json()
    assert (shown["amount_minor"], shown["amount"], shown["currency"]) == (7080, 70.8, "USD")
    assert (shown["settlement_amount_minor"], shown["settlement_currency"]) == (500_000, "INR")
    listed = (await shop.client.get("/api/v1/payments/transactions")).json()
    assert (listed[0]["currency"], listed[0]["tax_minor"], listed[0]["credits_added"]) == (
        "USD",
        1080,
        10,
    )


async def test_pay04_full_refund_of_the_taxed_total_takes_everything_back_down_to_zero(
    shop: Shop, session: AsyncSession
) -> None:
    payment = await _paid(shop, 10, total_amount=5900, tax=900)
    payment_id = payment["payment_id"]
    await shop.deliver(shop.dodo.payment_event(payment_id))
    assert await shop.credits() == 13
    user_id = await _user_id(shop)
    await CreditsService(CreditLedgerRepository(session)).debit(
        user_id, 5, CreditReason.GENERATION, Reference("image", "spent-before-full-refund")
    )
    await session.flush()
    refund = shop.dodo.refund_event(payment_id)  # the whole 5900, tax included
    assert refund.payload["data"]["amount"] == 5900
    assert (await shop.deliver(refund)).status_code == 200
    assert await shop.credits() == 0, "everything left is taken back, never below zero"
    transaction = await _transaction(session, payment_id)
    assert (transaction.status, transaction.credits_taken_back, transaction.refund_shortfall) == (
        "refunded",
        8,
        2,
    )
    assert transaction.refunded_minor == 5900


async def test_pay04_partial_refund_takes_the_proportional_share_and_stays_succeeded(
    shop: Shop, session: AsyncSession
) -> None:
    payment = await _paid(shop, 10, total_amount=5900, tax=900)
    payment_id = payment["payment_id"]
    await shop.deliver(shop.dodo.payment_event(payment_id))
    await shop.deliver(shop.dodo.refund_event(payment_id, amount=2950))  # half
    assert await shop.credits() == 13 - 5
    await shop.deliver(shop.dodo.refund_event(payment_id, amount=1))  # 2951/5900: still 5
    assert await shop.credits() == 13 - 5, "rounded in the customer's favour"
    transaction = await _transaction(session, payment_id)
    assert (transaction.status, transaction.refunded_minor, transaction.credits_taken_back) == (
        "succeeded",
        2951,
        5,
    )
    shown = (await shop.client.get(f"/api/v1/payments/transaction/{payment_id}")).json()
    assert shown["status"] == "succeeded"


async def test_pay04_refunds_of_999_and_1_of_1000_sum_to_a_full_refund(
    shop: Shop, session: AsyncSession
) -> None:
    payment = await _paid(shop, 10, total_amount=1000)
    payment_id = payment["payment_id"]
    await shop.deliver(shop.dodo.payment_event(payment_id))
    most = shop.dodo.refund_event(payment_id, amount=999)
    await shop.deliver(most)
    assert await shop.credits() == 13 - 9
    # The same refund delivered again under another webhook id is not counted twice.
    await shop.deliver(shop.dodo.webhook("refund.succeeded", most.payload["data"]))
    assert await shop.credits() == 13 - 9
    await shop.deliver(shop.dodo.refund_event(payment_id, amount=1))
    assert await shop.credits() == 3, "the parts add up to everything"
    transaction = await _transaction(session, payment_id)
    assert (transaction.status, transaction.refunded_minor, transaction.credits_taken_back) == (
        "refunded",
        1000,
        10,
    )
    refunds = await _ledger(session, await _user_id(shop), CreditReason.PAYMENT_REFUND)
    assert sorted(refunds) == [-9, -1]


async def test_pay04_partial_refund_before_the_success_still_grants_then_takes_its_share(
    shop: Shop,
) -> None:
    payment = await _paid(shop, 10, total_amount=1000)
    payment_id = payment["payment_id"]
    await shop.deliver(shop.dodo.refund_event(payment_id, amount=500))
    assert await shop.credits() == 3
    await shop.deliver(shop.dodo.payment_event(payment_id))
    assert await shop.credits() == 3 + 10 - 5
    shown = (await shop.client.get(f"/api/v1/payments/transaction/{payment_id}")).json()
    assert (shown["status"], shown["credits_added"]) == ("succeeded", 10)


async def test_failed_attempt_then_a_successful_retry_on_the_same_checkout_grants_once(
    shop: Shop, session: AsyncSession
) -> None:
    session_id, metadata = await _checkout(shop, 5)
    declined = shop.dodo.add_payment(
        status="failed", metadata=metadata, checkout_session_id=session_id, quantity=5
    )
    answer = await shop.deliver(shop.dodo.payment_event(declined["payment_id"]))
    assert answer.status_code == 200
    page = await shop.client.get(f"/api/v1/payments/transaction/{declined['payment_id']}")
    assert page.status_code == 200
    assert page.json()["status"] == "failed"

    # The customer tries another card on the same page: a new payment id, same session.
    retry = shop.dodo.add_payment(
        status="succeeded",
        total_amount=5 * objects.UNIT_PRICE_MINOR,
        metadata=metadata,
        checkout_session_id=session_id,
        quantity=5,
    )
    provider = shop.resources.payments
    assert provider is not None
    outcomes = await reconcile_open_transactions(shop.resources.database, provider)
    assert outcomes["granted"] == 1, "a failed attempt does not close the checkout"
    await shop.deliver(shop.dodo.payment_event(retry["payment_id"]))
    await shop.deliver(shop.dodo.payment_event(declined["payment_id"]))  # a late copy
    assert await shop.credits() == 3 + 5
    for payment_id in (declined["payment_id"], retry["payment_id"]):
        page = await shop.client.get(f"/api/v1/payments/transaction/{payment_id}")
        assert (page.json()["status"], page.json()["credits_added"]) == ("succeeded", 5)
    purchases = await _ledger(session, await _user_id(shop), CreditReason.PURCHASE)
    assert purchases == [5]


async def test_a_second_payment_on_a_paid_checkout_grants_nothing_and_its_refund_takes_nothing(
    shop: Shop, session: AsyncSession
) -> None:
    first = await _paid(shop, 2)
    await shop.deliver(shop.dodo.payment_event(first["payment_id"]))
    duplicate = shop.dodo.add_payment(
        status="succeeded",
        total_amount=2 * objects.UNIT_PRICE_MINOR,
        metadata=first["metadata"],
        checkout_session_id=first["checkout_session_id"],
        quantity=2,
    )
    await shop.deliver(shop.dodo.payment_event(duplicate["payment_id"]))
    assert await shop.credits() == 5, "one checkout, one grant"
    await shop.deliver(shop.dodo.refund_event(duplicate["payment_id"]))
    assert await shop.credits() == 5, "refunding the duplicate leaves the purchase standing"
    page = await shop.client.get(f"/api/v1/payments/transaction/{duplicate['payment_id']}")
    assert (page.json()["status"], page.json()["credits_added"]) == ("succeeded", 2)


@pytest.mark.parametrize("kind", ["no_metadata", "unknown_session", "other_product"])
async def test_pay10_unmatched_payment_is_stored_with_its_outcome_and_changes_nothing(
    shop: Shop, session: AsyncSession, kind: str
) -> None:
    session_id, metadata = await _checkout(shop, 4)
    user_id = await _user_id(shop)
    every: dict[str, dict[str, Any]] = {
        "no_metadata": {"metadata": {}, "checkout_session_id": None},
        "unknown_session": {"metadata": {}, "checkout_session_id": "cks_not_ours"},
        "other_product": {
            "metadata": metadata,
            "checkout_session_id": session_id,
            "product_id": "pdt_someone_elses",
        },
    }
    fields = every[kind]
    payment = shop.dodo.add_payment(status="succeeded", quantity=4, **fields)
    delivery = shop.dodo.payment_event(payment["payment_id"])
    answer = await shop.deliver(delivery)
    assert answer.status_code == 200
    stored = await session.scalar(
        select(WebhookEvent).where(WebhookEvent.webhook_id == delivery.webhook_id)
    )
    assert stored is not None
    assert (
        stored.outcome
        == {
            "no_metadata": "unmatched_no_reference",
            "unknown_session": "unmatched_unknown_transaction",
            "other_product": "unmatched_other_product",
        }[kind]
    )
    assert await shop.credits() == 3
    ledger_rows = await session.scalar(
        select(func.count())
        .select_from(CreditLedgerEntry)
        .where(CreditLedgerEntry.user_id == user_id)
    )
    assert ledger_rows == 1, "only the signup bonus"
    transaction = await session.scalar(
        select(Transaction).where(Transaction.session_id == session_id)
    )
    assert transaction is not None
    await session.refresh(transaction)
    assert (transaction.status, transaction.payment_id, transaction.credits_added) == (
        "created",
        None,
        0,
    )


async def test_a_webhook_unmatched_at_first_is_processed_again_when_it_comes_back(
    shop: Shop, session: AsyncSession
) -> None:
    session_id, _ = await _checkout(shop, 3)
    # The moment between committing the pending row and storing Dodo's session id.
    await session.execute(
        update(Transaction).where(Transaction.session_id == session_id).values(session_id=None)
    )
    await session.flush()
    payment = shop.dodo.add_payment(metadata={}, checkout_session_id=session_id, quantity=3)
    delivery = shop.dodo.payment_event(payment["payment_id"])
    assert (await shop.deliver(delivery)).status_code == 200
    assert await shop.credits() == 3
    await session.execute(
        update(Transaction)
        .where(Transaction.session_id.is_(None), Transaction.quantity == 3)
        .values(session_id=session_id)
    )
    await session.flush()
    assert (await shop.deliver(shop.dodo.resign(delivery))).status_code == 200
    assert await shop.credits() == 6
    stored = await session.scalar(
        select(WebhookEvent).where(WebhookEvent.webhook_id == delivery.webhook_id)
    )
    assert stored is not None
    await session.refresh(stored)
    assert stored.outcome == "granted"
    assert (await shop.deliver(shop.dodo.resign(delivery))).status_code == 200
    assert await shop.credits() == 6


async def test_checkout_holds_no_database_transaction_while_dodo_is_called(shop: Shop) -> None:
    shop.dodo.hold()
    try:
        started = asyncio.create_task(shop.client.post(CHECKOUT, json={"quantity": 2}))
        for _ in range(1000):
            if any(r.path == "/checkouts" for r in shop.dodo.requests):
                break
            await asyncio.sleep(0.01)
        # Our checkout is now waiting on Dodo: everyone else's database work goes on.
        other = await shop.client.get("/api/v1/user/me")
        assert other.status_code == 200
        assert not started.done(), "the other request finished while Dodo was answering"
    finally:
        shop.dodo.release()
    response = await started
    assert response.status_code == 200, response.text


async def test_webhook_ids_up_to_255_characters_are_stored_once(
    shop: Shop, session: AsyncSession
) -> None:
    payment = await _paid(shop, 2)
    long_id = "msg_" + "a" * 251
    delivery = shop.dodo.webhook(
        "payment.succeeded", shop.dodo.payment(payment["payment_id"]), webhook_id=long_id
    )
    assert (await shop.deliver(delivery)).status_code == 200
    assert (await shop.deliver(shop.dodo.resign(delivery))).status_code == 200
    assert await shop.credits() == 5
    stored = await session.scalar(select(WebhookEvent).where(WebhookEvent.webhook_id == long_id))
    assert stored is not None


@pytest.mark.parametrize("field", ["payment_id", "type", "metadata", "currency"])
async def test_a_nul_byte_in_a_signed_webhook_is_stored_and_answered_not_500(
    shop: Shop, session: AsyncSession, field: str
) -> None:
    payment = await _paid(shop, 2)
    data = shop.dodo.payment(payment["payment_id"])
    event_type = "payment.succeeded"
    if field == "type":
        event_type += "\x00"
    elif field == "metadata":
        data["metadata"] = {**data["metadata"], "transaction_id": "1\x00"}
    else:
        data[field] = data[field][:2] + "\x00" + data[field][2:]
    delivery = shop.dodo.webhook(event_type, data)
    answer = await shop.deliver(delivery)
    assert answer.status_code == 200, answer.text
    stored = await session.scalar(
        select(WebhookEvent).where(WebhookEvent.webhook_id == delivery.webhook_id)
    )
    assert stored is not None
    assert stored.outcome is not None
    assert await shop.credits() == 3


async def test_a_nul_byte_in_the_transaction_path_is_422_not_500(shop: Shop) -> None:
    """IN-01: refused by the shared path type before any query (PostgreSQL would 500 on it)."""
    response = await shop.client.get("/api/v1/payments/transaction/pay_%00x")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "payment_id"]
