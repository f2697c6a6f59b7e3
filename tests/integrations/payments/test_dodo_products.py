"""`get_product` through the real SDK against the loopback fake Dodo: the price per credit
comes from the provider's product (one source of truth for the price)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.integrations.payments import InvalidPaymentPayload, PaymentProviderError
from app.integrations.payments.dodo import DodoPayments
from app.integrations.payments.products import product_from_dodo
from tests.integrations.payments import dodo_objects as objects
from tests.integrations.payments.fake_dodo import FakeDodo


@pytest.fixture(scope="module")
async def dodo() -> AsyncIterator[FakeDodo]:
    async with FakeDodo(products={objects.PRODUCT_ID: (123, "usd")}) as fake:
        yield fake


@pytest.fixture
async def adapter(dodo: FakeDodo) -> AsyncIterator[DodoPayments]:
    dodo.reset()
    payments = DodoPayments(
        dodo.api_key, mode="test_mode", base_url=dodo.base_url, timeout=5, max_retries=0
    )
    yield payments
    await payments.aclose()


async def test_get_product_reads_the_one_time_price(dodo: FakeDodo, adapter: DodoPayments) -> None:
    product = await adapter.get_product(objects.PRODUCT_ID)
    assert (product.product_id, product.price_minor, product.currency) == (
        objects.PRODUCT_ID,
        123,
        "USD",
    )
    assert product.tax_inclusive is False
    [request] = dodo.requests
    assert (request.method, request.path) == ("GET", f"/products/{objects.PRODUCT_ID}")
    assert request.headers["authorization"] == f"Bearer {dodo.api_key}"


async def test_an_unknown_product_is_a_404_provider_error(adapter: DodoPayments) -> None:
    with pytest.raises(PaymentProviderError) as raised:
        await adapter.get_product("pdt_nobody_sells_this")
    assert raised.value.status_code == 404
    assert not raised.value.retryable


async def test_a_product_id_that_is_not_an_id_never_reaches_dodo(
    dodo: FakeDodo, adapter: DodoPayments
) -> None:
    with pytest.raises(InvalidPaymentPayload):
        await adapter.get_product("../payments/pay_1")
    assert dodo.requests == []


async def test_an_outage_is_a_retryable_provider_error(
    dodo: FakeDodo, adapter: DodoPayments
) -> None:
    dodo.fail_next(503)
    with pytest.raises(PaymentProviderError) as raised:
        await adapter.get_product(objects.PRODUCT_ID)
    assert raised.value.retryable


@pytest.mark.parametrize(
    "change",
    [
        {"type": "recurring_price"},
        {"price": -1},
        {"price": True},
        {"price": "100"},
        {"currency": None},
    ],
)
def test_a_product_that_is_not_a_one_time_price_is_unreadable(change: dict[str, object]) -> None:
    product = objects.product_object(objects.PRODUCT_ID, 100, "INR")
    product["price"] = {**product["price"], **change}
    with pytest.raises(InvalidPaymentPayload):
        product_from_dodo(product)


def test_a_tax_inclusive_price_says_so() -> None:
    product = objects.product_object(objects.PRODUCT_ID, 100, "INR", tax_inclusive=True)
    assert product_from_dodo(product).tax_inclusive is True
