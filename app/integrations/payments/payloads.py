"""Dodo's payment and refund objects (external-apis.md §2.5) read into our types.

One reader for both ways a payment reaches us, `GET /payments/{id}` through the SDK and the
`data` of a verified webhook, so a field means the same on both paths. The reader is strict
where money is concerned (id, amount, currency) and lenient elsewhere: Dodo adds fields and
states over time, and an unknown one must not turn a webhook into a retry loop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from app.integrations.payments.port import (
    CartItem,
    InvalidPaymentPayload,
    ProviderPayment,
    normalise_status,
)

# Provider ids are stored in String(128) columns.
MAX_ID_LENGTH = 128


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
    # The payment's metadata, which Dodo copies onto its refunds: finds a refund's transaction
    # when the refunded payment never reached us as a success.
    metadata: dict[str, str] = field(default_factory=dict)


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
        metadata=_lenient_metadata(data.get("metadata")),
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
        tax_minor=_optional_amount(data, "tax"),
        settlement_amount_minor=_optional_amount(data, "settlement_amount"),
        settlement_currency=_currency(data.get("settlement_currency")),
        discount_id=_optional_str(data, "discount_id"),
        product_cart=_product_cart(data.get("product_cart")),
    )


def _product_cart(value: object) -> tuple[CartItem, ...] | None:
    """What was bought. Strict: the cart decides how many credits a payment grants, so a cart
    we cannot read is an invalid payload, not an empty cart."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidPaymentPayload("product_cart is not a list")
    items: list[CartItem] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise InvalidPaymentPayload("a product_cart item is not an object")
        quantity = _optional_amount(item, "quantity")
        if quantity is None:
            raise InvalidPaymentPayload("a product_cart item has no quantity")
        items.append(CartItem(_required_str(item, "product_id"), quantity))
    return tuple(items)


def _required_str(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidPaymentPayload(f"{key} is missing or not a string")
    if not _is_clean(value):
        # Ids end up in our tables and queries; PostgreSQL refuses NUL in text.
        raise InvalidPaymentPayload(f"{key} has control characters or is too long")
    return value


def _optional_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value and _is_clean(value) else None


def _is_clean(value: str) -> bool:
    return len(value) <= MAX_ID_LENGTH and value.isprintable()


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
    """An ISO 4217 code (three letters), or None: anything else is not a currency we can
    store or compare."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    return code if len(code) == 3 and code.isascii() and code.isalpha() else None


def _lenient_metadata(value: object) -> dict[str, str]:
    try:
        return _metadata(value)
    except InvalidPaymentPayload:
        return {}


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
        if isinstance(item, str) and not item.isprintable():
            continue  # NUL and friends: never one of our ids, and PostgreSQL refuses NUL
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
