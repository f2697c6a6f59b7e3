"""Buying credits with Dodo faked at its HTTP boundary (SPEC §6; PAY-01…05, PAY-07, CR-03/04
in the payment direction): checkout, signed webhooks, replays, forgeries, out-of-order events,
refunds after spending, and the return page reconciling before the webhook arrives."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Transaction, WebhookEvent
from tests.auth.flows import Mail, signed_up_and_verified
from tests.integrations.payments import dodo_objects as objects
from tests.payments.conftest import WEBHOOK, Shop


async def test_buying_ten_credits_through_checkout_and_webhook(shop: Shop) -> None:
    payment_id = await shop.buy(10)
    request = shop.dodo.checkout_requests[-1]
    assert request["product_cart"] == [{"product_id": objects.PRODUCT_ID, "quantity": 10}]
    assert set(request["metadata"]) == {"user_id", "transaction_id"}
    assert request["customer"]["email"].endswith("@example.com")

    answer = await shop.deliver(shop.dodo.payment_event(payment_id))
    assert answer.status_code == 200
    assert await shop.credits() == 13
    me = (await shop.client.get("/api/v1/user/me")).json()
    assert me["credits"] == 13
    listed = (await shop.client.get("/api/v1/payments/transactions")).json()
    assert listed[0]["status"] == "succeeded"
    assert listed[0]["credits_added"] == 10
    one = (await shop.client.get(f"/api/v1/payments/transaction/{payment_id}")).json()
    assert (one["amount_minor"], one["amount"], one["currency"]) == (5000, 50.0, "INR")
    assert (one["tax_minor"], one["settlement_amount_minor"], one["settlement_currency"]) == (
        0,
        5000,
        "INR",
    )
    assert request["return_url"] == "http://localhost:5173/payment"


async def test_pay02_replayed_webhook_grants_credits_once(shop: Shop) -> None:
    payment_id = await shop.buy(4)
    delivery = shop.dodo.payment_event(payment_id)
    for _ in range(3):
        assert (await shop.deliver(delivery)).status_code == 200
    assert await shop.credits() == 7


async def test_pay03_two_deliveries_of_one_payment_grant_once(shop: Shop) -> None:
    payment_id = await shop.buy(5)
    first = shop.dodo.payment_event(payment_id)
    second = shop.dodo.payment_event(payment_id)
    assert first.webhook_id != second.webhook_id
    await shop.deliver(first)
    await shop.deliver(second)
    assert await shop.credits() == 8


@pytest.mark.parametrize("forgery", ["wrong_secret", "body_changed", "no_headers", "malformed"])
async def test_pay01_forged_webhooks_are_401_and_change_nothing(
    shop: Shop, session: AsyncSession, forgery: str
) -> None:
    payment_id = await shop.buy(10)
    genuine = shop.dodo.payment_event(payment_id)
    body, headers = genuine.body, dict(genuine.headers)
    if forgery == "wrong_secret":
        other = shop.dodo.webhook(
            "payment.succeeded", genuine.payload["data"], secret="whsec_" + "QUJD" * 8
        )
        body, headers = other.body, dict(other.headers)
    elif forgery == "body_changed":
        body = body.replace(b'"quantity":10', b'"quantity":99', 1)
        body = body if body != genuine.body else body[:-1] + b" "
    elif forgery == "no_headers":
        headers = {}
    else:
        headers["webhook-signature"] = "v1-not-a-signature"
    response = await shop.client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"]["code"] == "INVALID_SIGNATURE"
    assert await shop.credits() == 3


async def test_pay02_old_timestamps_are_refused_and_recent_ones_accepted(shop: Shop) -> None:
    import time

    payment_id = await shop.buy(2)
    delivery = shop.dodo.payment_event(payment_id)
    stale = shop.dodo.resign(delivery, timestamp=int(time.time()) - 6 * 60)
    assert (await shop.deliver(stale)).status_code == 401
    recent = shop.dodo.resign(delivery, timestamp=int(time.time()) - 4 * 60)
    assert (await shop.deliver(recent)).status_code == 200
    assert await shop.credits() == 5


async def test_pay07_trailing_slash_and_alias_paths_answer_without_redirect(shop: Shop) -> None:
    payment_id = await shop.buy(1)
    for path in (f"{WEBHOOK}/", "/api/v1/payment/webhook", "/api/v1/payment/webhook/"):
        response = await shop.deliver(shop.dodo.payment_event(payment_id), path=path)
        assert response.status_code == 200, path
    assert await shop.credits() == 4


async def test_pay07_a_reserialised_body_fails_verification(shop: Shop) -> None:
    import json

    payment_id = await shop.buy(1)
    delivery = shop.dodo.payment_event(payment_id)
    pretty = json.dumps(json.loads(delivery.body), indent=2).encode()
    response = await shop.client.post(WEBHOOK, content=pretty, headers=delivery.headers)
    assert response.status_code == 401


async def test_pay04_failed_after_succeeded_takes_nothing_back(shop: Shop) -> None:
    payment_id = await shop.buy(6)
    await shop.deliver(shop.dodo.payment_event(payment_id))
    late_failure = shop.dodo.payment_event(payment_id, event_type="payment.failed")
    assert (await shop.deliver(late_failure)).status_code == 200
    assert await shop.credits() == 9
    status = (await shop.client.get(f"/api/v1/payments/transaction/{payment_id}")).json()
    assert status["status"] == "succeeded"


async def test_pay04_refund_after_spending_takes_back_down_to_zero(
    shop: Shop, session: AsyncSession
) -> None:
    payment_id = await shop.buy(2)
    await shop.deliver(shop.dodo.payment_event(payment_id))
    assert await shop.credits() == 5
    # Spend four of the five through the ledger (as generations would).
    from app.credits.repository import CreditLedgerRepository
    from app.credits.service import CreditsService, Reference
    from app.models import CreditReason

    me = (await shop.client.get("/api/v1/user/me")).json()
    await CreditsService(CreditLedgerRepository(session)).debit(
        me["id"], 4, CreditReason.GENERATION, Reference("image", "spent-before-refund")
    )
    await session.flush()
    refund = shop.dodo.refund_event(payment_id)
    assert (await shop.deliver(refund)).status_code == 200
    assert await shop.credits() == 0, "took back what was left, never below zero"
    transaction = await session.scalar(
        select(Transaction).where(Transaction.payment_id == payment_id)
    )
    assert transaction is not None
    await session.refresh(transaction)
    assert (transaction.status, transaction.credits_taken_back, transaction.refund_shortfall) == (
        "refunded",
        1,
        1,
    )
    assert (await shop.deliver(refund)).status_code == 200
    assert await shop.credits() == 0


async def test_pay04_refund_before_success_is_recorded_and_grants_nothing(shop: Shop) -> None:
    payment_id = await shop.buy(3)
    assert (await shop.deliver(shop.dodo.refund_event(payment_id))).status_code == 200
    assert (await shop.deliver(shop.dodo.payment_event(payment_id))).status_code == 200
    assert await shop.credits() == 3


@pytest.mark.parametrize(("cart", "granted"), [(4, 4), (40, 10)])
async def test_pay05_cart_quantity_lower_than_ours_grants_the_carts(
    shop: Shop, session: AsyncSession, cart: int, granted: int
) -> None:
    """Never more than we stored, never more than was bought."""
    response = await shop.client.post("/api/v1/payments/checkout", json={"quantity": 10})
    session_id = response.json()["session_id"]
    request = shop.dodo.session(session_id).request
    payment = shop.dodo.add_payment(
        status="succeeded",
        total_amount=cart * objects.UNIT_PRICE_MINOR,
        currency=objects.CURRENCY,
        metadata=request["metadata"],
        checkout_session_id=session_id,
        quantity=cart,
    )
    await shop.deliver(shop.dodo.payment_event(payment["payment_id"]))
    assert await shop.credits() == 3 + granted
    transaction = await session.scalar(
        select(Transaction).where(Transaction.payment_id == payment["payment_id"])
    )
    assert transaction is not None
    assert (transaction.quantity, transaction.credits_added) == (10, granted)
    if granted < 10:
        assert transaction.note is not None
        assert f"{granted} of 10" in transaction.note


async def test_pay05_payload_metadata_cannot_credit_another_user(shop: Shop) -> None:
    payment_id = await shop.buy(10)
    data = dict(shop.dodo.payment(payment_id))
    data["payment_id"] = "pay_forged_elsewhere"
    data["metadata"] = {**data["metadata"], "user_id": "999999"}
    await shop.deliver(shop.dodo.webhook("payment.succeeded", data))
    assert await shop.credits() == 3


async def test_return_page_reconciles_before_the_webhook_arrives(shop: Shop) -> None:
    payment_id = await shop.buy(7)
    early = await shop.client.get(f"/api/v1/payments/transaction/{payment_id}")
    assert early.status_code == 200, early.text
    assert early.json()["status"] == "succeeded"
    assert await shop.credits() == 10
    await shop.deliver(shop.dodo.payment_event(payment_id))
    assert await shop.credits() == 10, "the late webhook changes nothing"


async def test_someone_elses_transaction_is_not_found(shop: Shop, mail: Mail) -> None:
    payment_id = await shop.buy(1)
    await shop.deliver(shop.dodo.payment_event(payment_id))
    shop.client.cookies.clear()
    await signed_up_and_verified(
        shop.client, Mail(mail.directory, shop.resources.database.background)
    )
    response = await shop.client.get(f"/api/v1/payments/transaction/{payment_id}")
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "TRANSACTION_NOT_FOUND"


async def test_failed_checkout_is_502_and_leaves_no_orphan_row(
    shop: Shop, session: AsyncSession
) -> None:
    me = (await shop.client.get("/api/v1/user/me")).json()
    shop.dodo.fail_next(500)
    response = await shop.client.post("/api/v1/payments/checkout", json={"quantity": 3})
    assert response.status_code == 502
    assert response.json()["detail"]["code"] == "PAYMENT_PROVIDER_ERROR"
    rows = await session.scalar(
        select(func.count()).select_from(Transaction).where(Transaction.user_id == me["id"])
    )
    assert rows == 0


async def test_unknown_events_are_acknowledged_and_stored(
    shop: Shop, session: AsyncSession
) -> None:
    delivery = shop.dodo.webhook("subscription.active", {"subscription_id": "sub_1"})
    assert (await shop.deliver(delivery)).status_code == 200
    stored = await session.scalar(
        select(WebhookEvent).where(WebhookEvent.webhook_id == delivery.webhook_id)
    )
    assert stored is not None
    assert stored.outcome == "ignored"


async def test_payments_off_answers_503(
    payments_off: tuple[httpx.AsyncClient, Mail],
) -> None:
    client, mail = payments_off
    await signed_up_and_verified(client, mail)
    response = await client.post("/api/v1/payments/checkout", json={"quantity": 1})
    assert response.status_code == 503
    assert response.json()["detail"]["code"] == "PAYMENTS_NOT_CONFIGURED"
    alias = await client.post("/api/v1/payment/create-checkout", json={"quantity": 1})
    assert alias.status_code == 503
    for quantity in (0, 10_001):
        bad = await client.post("/api/v1/payments/checkout", json={"quantity": quantity})
        assert bad.status_code == 422


async def test_reconcile_command_applies_payments_whose_webhook_never_came(shop: Shop) -> None:
    from app.payments.reconcile import reconcile_open_transactions

    response = await shop.client.post("/api/v1/payments/checkout", json={"quantity": 6})
    shop.dodo.complete_session(response.json()["session_id"])
    provider = shop.resources.payments
    assert provider is not None
    outcomes = await reconcile_open_transactions(shop.resources.database, provider)
    assert outcomes["granted"] == 1
    assert await shop.credits() == 9
    again = await reconcile_open_transactions(shop.resources.database, provider)
    assert again["granted"] == 0
    assert await shop.credits() == 9
