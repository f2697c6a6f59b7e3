"""Dodo's product object (`GET /products/{id}`) read into our type.

Only a one-time price means "so much per unit" the way we sell credits; a subscription or
usage-based product behind DODO_PAYMENTS_PRODUCT_ID is a configuration mistake, reported as
an unreadable answer rather than shown as a price.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.integrations.payments.port import InvalidPaymentPayload, ProviderProduct


def product_from_dodo(data: Mapping[str, object]) -> ProviderProduct:
    product_id = data.get("product_id")
    if not isinstance(product_id, str) or not product_id:
        raise InvalidPaymentPayload("product has no product_id")
    price = data.get("price")
    if not isinstance(price, Mapping):
        raise InvalidPaymentPayload("product has no price")
    if price.get("type") != "one_time_price":
        raise InvalidPaymentPayload(f"product {product_id} is not priced one-time per unit")
    amount = price.get("price")
    # bool is an int in Python; a price of `true` is not one.
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise InvalidPaymentPayload(f"product {product_id} has no usable price")
    currency = price.get("currency")
    if not isinstance(currency, str) or len(currency.strip()) != 3:
        raise InvalidPaymentPayload(f"product {product_id} has no currency")
    return ProviderProduct(
        product_id=product_id,
        price_minor=amount,
        currency=currency.strip().upper(),
        tax_inclusive=price.get("tax_inclusive") is True,
    )
