"""IN-01/IN-02 for the payment webhooks: a correctly signed delivery whose content no column can
hold (NUL, lone surrogates, integers beyond int64) is acknowledged and ignored, never a 500
that the provider would retry forever; nothing is granted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.payments.conftest import Shop


def _with(data: dict[str, Any], case: str) -> dict[str, Any]:
    if case == "nul_payment_id":
        return {**data, "payment_id": data["payment_id"] + "\x00"}
    if case == "surrogate_payment_id":
        return {**data, "payment_id": data["payment_id"] + "\ud800"}
    if case == "huge_amount":
        return {**data, "total_amount": 2**64}
    if case == "nul_in_metadata":
        return {**data, "metadata": {**data.get("metadata", {}), "user_id": "1\x00"}}
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["nul_payment_id", "surrogate_payment_id", "huge_amount", "nul_in_metadata"]
)
async def test_in01_signed_webhook_with_unstorable_content_is_acknowledged_not_500(
    shop: Shop, case: str
) -> None:
    payment_id = await shop.buy(3)
    payment = shop.dodo.payment(payment_id)
    delivery = shop.dodo.webhook("payment.succeeded", _with(dict(payment), case))
    response = await shop.deliver(delivery)
    assert response.status_code == 200, response.text
    assert await shop.credits() == 3  # nothing granted from a payload we cannot read
    # The real delivery still grants.
    assert (await shop.deliver(shop.dodo.payment_event(payment_id))).status_code == 200
    assert await shop.credits() == 6


async def test_in01_signed_webhook_with_nul_in_its_event_type_is_acknowledged(shop: Shop) -> None:
    payment_id = await shop.buy(1)
    delivery = shop.dodo.webhook("payment.\x00succeeded", dict(shop.dodo.payment(payment_id)))
    assert (await shop.deliver(delivery)).status_code == 200
