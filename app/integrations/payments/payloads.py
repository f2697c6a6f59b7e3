"""Dodo's payment and refund objects (external-apis.md §2.5) read into our types.

One reader for both ways a payment reaches us, `GET /payments/{id}` through the SDK and the
`data` of a verified webhook, so a field means the same on both paths. The reader is strict
where money is concerned (id, amount, currency) and lenient elsewhere: Dodo adds fields and
states over time, and an unknown one must not turn a webhook into a retry loop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from app.integrations.payments.port import InvalidPaymentPayload, ProviderPayment, normalise_status


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """`payment.succeeded`, `payment.failed`, `payment.processing`, `payment.cancelled`, ..."""

    event_type: str
    occurred_at: datetime | None
    payment: ProviderPayment


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundEvent:
    """`refund.succeeded` or `refund.failed`; Dodo's `status`: succeeded|failed|pending|review."""

    event_type: str
    occurred_at: datetime | None
    refund_id: str
    payment_id: str
    status: str | None
    amount_minor: int | None
    currency: str | None
    is_partial: bool | None


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """Any other event type (disputes, subscriptions, ...): acknowledged, stored, not acted on."""

    event_type: str
    occurred_at: datetime | None


ProviderEvent = PaymentEvent | RefundEvent | OtherEvent


def parse_event(payload: Mapping[str, object]) -> ProviderEvent:
    """The verified webhook body (`WebhookEnvelope.payload`) as one of our event types.

    Raises `InvalidPaymentPayload` when a payment or refund event lacks the fields we need.
    """
    event_type = payload.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidPaymentPayload("webhook event has no type")
    occurred_at = _timestamp(payload.get("timestamp"))
    data = payload.get("data")
    family = event_type.partition(".")[0]
    if family not in {"payment", "refund"}:
        return OtherEvent(event_type, occurred_at)
    if not isinstance(data, Mapping):
        raise InvalidPaymentPayload(f"{event_type} event has no data object")
    if family == "payment":
        return PaymentEvent(event_type, occurred_at, payment_from_dodo(data))
    return RefundEvent(
        event_type=event_type,
        occurred_at=occurred_at,
        refund_id=_required_str(data, "refund_id"),
        payment_id=_required_str(data, "payment_id"),
        status=_optional_str(data, "status"),
        amount_minor=_optional_amount(data, "amount"),
        currency=_currency(data.get("currency")),
        is_partial=data.get("is_partial") if isinstance(data.get("is_partial"), bool) else None,
    )


def payment_from_dodo(data: Mapping[str, object]) -> ProviderPayment:
    """A Dodo Payment object (API answer or webhook `data`) as a `ProviderPayment`."""
    provider_status = _optional_str(data, "status")
    currency = _currency(data.get("currency"))
    if currency is None:
        raise InvalidPaymentPayload("payment has no currency")
    amount = _optional_amount(data, "total_amount")
    if amount is None:
        raise InvalidPaymentPayload("payment has no total_amount")
    return ProviderPayment(
        payment_id=_required_str(data, "payment_id"),
        status=normalise_status(provider_status),
        provider_status=provider_status,
        total_amount_minor=amount,
        currency=currency,
        metadata=_metadata(data.get("metadata")),
        checkout_session_id=_optional_str(data, "checkout_session_id"),
    )


def _required_str(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidPaymentPayload(f"{key} is missing or not a string")
    return value


def _optional_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _optional_amount(data: Mapping[str, object], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    # bool is an int in Python; `true` is not an amount.
    if isinstance(value, int) and not isinstance(value, bool):
        amount = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        amount = int(value)
    else:
        raise InvalidPaymentPayload(f"{key} is not a whole number of minor units: {value!r}")
    if amount < 0:
        raise InvalidPaymentPayload(f"{key} is negative: {amount}")
    return amount


def _currency(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().upper()


def _metadata(value: object) -> dict[str, str]:
    """Dodo metadata values are strings, numbers or booleans; we only ever store strings.

    Booleans are written the JSON way ("true") so a value reads the same whichever way it came.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidPaymentPayload("metadata is not an object")
    metadata: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            metadata[str(key)] = "true" if item else "false"
        elif isinstance(item, str | int | float):
            metadata[str(key)] = str(item)
    return metadata


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
