"""Dodo's JSON objects as the API and webhooks send them (external-apis.md §2.2, §2.5).

Builders for the fake server and for tests that post webhooks without one. They send the
full set of fields the SDK's models declare required, even though the SDK parses leniently,
so a stricter reader (ours, or a future SDK) is tested against the real shape.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

BUSINESS_ID = "bus_fakehairtryon"
PRODUCT_ID = "pdt_hairtryon_credit"
UNIT_PRICE_MINOR = 500
CURRENCY = "INR"
CUSTOMER_EMAIL = "ana@example.com"
CUSTOMER_NAME = "Ana"

# Every payment.* event type Dodo sends, by the status the payment then has.
PAYMENT_EVENT_FOR_STATUS = {
    "succeeded": "payment.succeeded",
    "failed": "payment.failed",
    "cancelled": "payment.cancelled",
    "processing": "payment.processing",
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(16).replace('-', 'x').replace('_', 'y')}"


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payment_object(
    *,
    payment_id: str | None = None,
    status: str | None = "succeeded",
    total_amount: int = UNIT_PRICE_MINOR,
    currency: str = CURRENCY,
    metadata: dict[str, Any] | None = None,
    checkout_session_id: str | None = None,
    customer_email: str = CUSTOMER_EMAIL,
    customer_name: str = CUSTOMER_NAME,
    product_id: str = PRODUCT_ID,
    quantity: int = 1,
    tax: int = 0,
    settlement_amount: int | None = None,
    settlement_currency: str | None = None,
    discount_id: str | None = None,
    product_cart: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Payment as `GET /payments/{id}` returns it and as the `data` of `payment.*` events.

    `total_amount` is what the customer paid, `tax` included (Dodo adds tax on top of
    tax-exclusive prices); settlement defaults to the same amount and currency."""
    created = iso_now()
    return {
        "payload_type": "Payment",
        "payment_id": payment_id or new_id("pay"),
        "business_id": BUSINESS_ID,
        "brand_id": BUSINESS_ID,
        "status": status,
        "total_amount": total_amount,
        "currency": currency,
        "settlement_amount": total_amount if settlement_amount is None else settlement_amount,
        "settlement_currency": settlement_currency or currency,
        "tax": tax,
        "discount_id": discount_id,
        "customer": {
            "customer_id": new_id("cus"),
            "email": customer_email,
            "name": customer_name,
        },
        "metadata": dict(metadata or {}),
        "product_cart": (
            product_cart
            if product_cart is not None
            else [{"product_id": product_id, "quantity": quantity}]
        ),
        "billing": {"country": "IN", "zipcode": "560001"},
        "checkout_session_id": checkout_session_id,
        "payment_method": "card",
        "payment_provider": "stripe",
        "refunds": [],
        "disputes": [],
        "digital_products_delivered": False,
        "is_update_payment_method": False,
        "includes_usage": False,
        "is_multi_subscription": False,
        "service_periods": [],
        "subscription_ids": [],
        "retry_attempt": 0,
        "error_code": None if status != "failed" else "CARD_DECLINED",
        "error_message": None if status != "failed" else "Your card was declined.",
        "created_at": created,
        "updated_at": created,
    }


def product_object(
    product_id: str, price: int, currency: str, *, tax_inclusive: bool = False
) -> dict[str, Any]:
    """A one-time Product as `GET /products/{id}` returns it (Dodo prices are tax-exclusive
    unless marked otherwise)."""
    created = iso_now()
    return {
        "product_id": product_id,
        "business_id": BUSINESS_ID,
        "brand_id": BUSINESS_ID,
        "name": "HairTryOn credit",
        "description": "One try-on credit",
        "is_recurring": False,
        "license_key_enabled": False,
        "metadata": {},
        "credit_entitlements": [],
        "entitlements": [],
        "tax_category": "saas",
        "price": {
            "type": "one_time_price",
            "price": price,
            "currency": currency,
            "discount": 0,
            "purchasing_power_parity": False,
            "pay_what_you_want": False,
            "tax_inclusive": tax_inclusive,
        },
        "created_at": created,
        "updated_at": created,
    }


def refund_object(
    payment: dict[str, Any], *, amount: int | None = None, status: str = "succeeded"
) -> dict[str, Any]:
    """A Refund as the `data` of `refund.*` events; the full amount unless `amount` is given."""
    refunded = payment["total_amount"] if amount is None else amount
    return {
        "payload_type": "Refund",
        "refund_id": new_id("ref"),
        "payment_id": payment["payment_id"],
        "business_id": BUSINESS_ID,
        "brand_id": BUSINESS_ID,
        "status": status,
        "amount": refunded,
        "currency": payment["currency"],
        "is_partial": refunded < payment["total_amount"],
        "reason": "requested_by_customer",
        "customer": payment["customer"],
        "metadata": payment["metadata"],
        "created_at": iso_now(),
    }


def event_envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The webhook body: the same envelope for every event type."""
    return {"business_id": BUSINESS_ID, "type": event_type, "timestamp": iso_now(), "data": data}
