"""Dodo's objects read into our types, and the port's own rules."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from typing import Any

import pytest

from app.integrations.payments import (
    CartItem,
    CheckoutRequest,
    InvalidPaymentPayload,
    OtherEvent,
    PaymentEvent,
    PaymentProviderError,
    PaymentStatus,
    ProviderPayment,
    RefundEvent,
    normalise_status,
    parse_event,
    payment_from_dodo,
)
from tests.integrations.payments import dodo_objects as objects


def test_a_dodo_payment_maps_to_a_provider_payment() -> None:
    data = objects.payment_object(
        payment_id="pay_1",
        status="succeeded",
        total_amount=2500,
        currency="inr",
        metadata={"user_id": "42", "transaction_id": "tx_9"},
        checkout_session_id="cks_1",
    )

    assert payment_from_dodo(data) == ProviderPayment(
        payment_id="pay_1",
        status=PaymentStatus.SUCCEEDED,
        provider_status="succeeded",
        total_amount_minor=2500,
        currency="INR",
        metadata={"user_id": "42", "transaction_id": "tx_9"},
        checkout_session_id="cks_1",
        tax_minor=0,
        settlement_amount_minor=2500,
        settlement_currency="INR",
        product_cart=(CartItem(objects.PRODUCT_ID, 1),),
    )


def test_metadata_values_become_strings() -> None:
    data = objects.payment_object(
        metadata={"user_id": 42, "is_gift": True, "ratio": 0.5, "nested": {"x": 1}}
    )

    assert payment_from_dodo(data).metadata == {"user_id": "42", "is_gift": "true", "ratio": "0.5"}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("succeeded", PaymentStatus.SUCCEEDED),
        ("failed", PaymentStatus.FAILED),
        ("cancelled", PaymentStatus.CANCELLED),
        ("canceled", PaymentStatus.CANCELLED),
        ("processing", PaymentStatus.PROCESSING),
        ("requires_payment_method", PaymentStatus.REQUIRES_PAYMENT_METHOD),
        ("partially_captured_and_capturable", PaymentStatus.PARTIALLY_CAPTURED_AND_CAPTURABLE),
        (" Succeeded ", PaymentStatus.SUCCEEDED),
        ("teleported", PaymentStatus.UNKNOWN),
        (None, PaymentStatus.UNKNOWN),
    ],
)
def test_statuses_are_normalised_and_unknown_ones_kept(
    raw: str | None, status: PaymentStatus
) -> None:
    payment = payment_from_dodo(objects.payment_object(status=raw))

    assert payment.status is status
    assert payment.provider_status == raw
    assert normalise_status(raw) is status


def test_only_succeeded_failed_and_cancelled_are_final() -> None:
    final = {status for status in PaymentStatus if status.is_final}

    assert final == {PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELLED}


@pytest.mark.parametrize(
    "change",
    [
        {"payment_id": None},
        {"payment_id": ""},
        {"payment_id": 7},
        {"total_amount": None},
        {"total_amount": "999"},
        {"total_amount": 9.5},
        {"total_amount": True},
        {"total_amount": -1},
        {"currency": None},
        {"currency": ""},
        {"metadata": ["user_id", "42"]},
    ],
)
def test_a_payment_without_usable_money_fields_is_refused(change: dict[str, Any]) -> None:
    data = {**objects.payment_object(), **change}

    with pytest.raises(InvalidPaymentPayload) as caught:
        payment_from_dodo(data)
    assert caught.value.retryable is False


def test_a_whole_float_amount_is_accepted() -> None:
    assert payment_from_dodo(
        {**objects.payment_object(), "total_amount": 999.0}
    ).total_amount_minor == (999)


def test_a_payment_event_carries_the_payment() -> None:
    payment = objects.payment_object(payment_id="pay_1", metadata={"user_id": "42"})
    envelope = objects.event_envelope("payment.succeeded", payment)
    envelope["timestamp"] = "2025-05-01T10:02:11.512Z"

    event = parse_event(envelope)

    assert isinstance(event, PaymentEvent)
    assert event.event_type == "payment.succeeded"
    assert event.occurred_at == datetime(2025, 5, 1, 10, 2, 11, 512000, tzinfo=UTC)
    assert event.payment.payment_id == "pay_1"
    assert event.payment.metadata == {"user_id": "42"}


def test_a_refund_event_carries_the_refund() -> None:
    payment = objects.payment_object(payment_id="pay_1", total_amount=1000)
    refund = objects.refund_object(payment, amount=400)

    event = parse_event(objects.event_envelope("refund.succeeded", refund))

    assert isinstance(event, RefundEvent)
    assert (event.payment_id, event.status, event.amount_minor, event.currency) == (
        "pay_1",
        "succeeded",
        400,
        "INR",
    )
    assert event.is_partial is True
    assert event.refund_id == refund["refund_id"]


def test_other_events_are_recognised_without_reading_their_data() -> None:
    event = parse_event({"type": "dispute.opened", "timestamp": "not a date", "data": [1, 2]})

    assert event == OtherEvent("dispute.opened", None)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"type": ""},
        {"type": 5, "data": {}},
        {"type": "payment.succeeded"},
        {"type": "payment.succeeded", "data": "pay_1"},
        {"type": "payment.succeeded", "data": {"payment_id": "pay_1"}},
        {"type": "refund.succeeded", "data": {"payment_id": "pay_1"}},
    ],
)
def test_a_malformed_event_is_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidPaymentPayload):
        parse_event(payload)


@pytest.mark.parametrize(
    "change",
    [{"product_id": " "}, {"quantity": 0}, {"quantity": -3}, {"customer_email": ""}],
)
def test_a_checkout_request_refuses_what_cannot_be_sold(change: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "product_id": objects.PRODUCT_ID,
        "quantity": 1,
        "customer_email": objects.CUSTOMER_EMAIL,
        **change,
    }

    with pytest.raises(ValueError, match="checkout needs"):
        CheckoutRequest(**fields)


def test_provider_errors_survive_pickling() -> None:
    # Job brokers pickle exceptions across processes.
    error = PaymentProviderError(
        "Dodo answered 429", retryable=True, status_code=429, retry_after=3
    )
    invalid = InvalidPaymentPayload("no currency")

    copy = pickle.loads(pickle.dumps(error))
    invalid_copy = pickle.loads(pickle.dumps(invalid))

    assert (copy.message, copy.retryable, copy.status_code, copy.retry_after) == (
        "Dodo answered 429",
        True,
        429,
        3,
    )
    assert isinstance(invalid_copy, InvalidPaymentPayload)
    assert (invalid_copy.message, invalid_copy.retryable) == ("no currency", False)
