"""GET /api/v1/payments/pricing: the price per credit read from the provider's product (one
source of truth), cached in the process, and what a client sees while the provider is down."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.payments.pricing import PRICE_TTL_S, RETRY_AFTER_FAILURE_S, ProductPrices
from app.resources import Resources
from tests.conftest import build_test_resources
from tests.integrations.payments import dodo_objects as objects
from tests.integrations.payments.fake_dodo import FakeDodo
from tests.payments.conftest import Shop

PRICING = "/api/v1/payments/pricing"
PRODUCT_PATH = f"/products/{objects.PRODUCT_ID}"
# Not the shop's CREDIT_PRICE_MINOR (500): the answer must come from the provider's product.
DASHBOARD_PRICE = 100


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dashboard_price(dodo: FakeDodo) -> Iterator[None]:
    before = dict(dodo.products)
    dodo.products[objects.PRODUCT_ID] = (DASHBOARD_PRICE, "INR")
    yield
    dodo.products.clear()
    dodo.products.update(before)


@pytest.fixture
def clock(shop: Shop) -> Clock:
    clock = Clock()
    shop.resources.prices = ProductPrices(clock=clock)
    return clock


@pytest.mark.usefixtures("dashboard_price")
async def test_pricing_shows_the_providers_product_price(shop: Shop) -> None:
    shop.client.cookies.clear()  # public: no sign-in needed
    response = await shop.client.get(PRICING)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "product_id": objects.PRODUCT_ID,
        "price_minor": DASHBOARD_PRICE,
        "price": 1.0,
        "currency": "INR",
        "tax_inclusive": False,
        "min_quantity": 1,
        "max_quantity": 10_000,
    }
    assert shop.dodo.requests_to(PRODUCT_PATH) == 1


@pytest.mark.usefixtures("dashboard_price")
async def test_pricing_is_cached_a_second_call_asks_the_provider_nothing(
    shop: Shop, clock: Clock
) -> None:
    first = await shop.client.get(PRICING)
    second = await shop.client.get(PRICING)
    assert first.json() == second.json()
    assert shop.dodo.requests_to(PRODUCT_PATH) == 1
    clock.now += PRICE_TTL_S + 1
    shop.dodo.products[objects.PRODUCT_ID] = (250, "INR")
    third = await shop.client.get(PRICING)
    assert third.json()["price_minor"] == 250, "a new dashboard price shows after the TTL"
    assert shop.dodo.requests_to(PRODUCT_PATH) == 2


@pytest.mark.usefixtures("dashboard_price")
async def test_provider_down_serves_the_last_known_price(shop: Shop, clock: Clock) -> None:
    assert (await shop.client.get(PRICING)).json()["price_minor"] == DASHBOARD_PRICE
    clock.now += PRICE_TTL_S + 1
    shop.dodo.fail_next(500, times=10, path_prefix="/products/")
    stale = await shop.client.get(PRICING)
    assert stale.status_code == 200
    assert stale.json()["price_minor"] == DASHBOARD_PRICE
    again = await shop.client.get(PRICING)
    assert again.status_code == 200
    assert shop.dodo.requests_to(PRODUCT_PATH) == 2, "the outage is not asked on every view"


async def test_provider_down_with_no_price_known_is_a_clear_503(shop: Shop, clock: Clock) -> None:
    shop.dodo.fail_next(500, times=10, path_prefix="/products/")
    for _ in range(3):
        response = await shop.client.get(PRICING)
        assert response.status_code == 503
        assert response.json()["detail"]["code"] == "PRICING_UNAVAILABLE"
        assert int(response.headers["retry-after"]) >= 1
    assert shop.dodo.requests_to(PRODUCT_PATH) == 1
    clock.now += RETRY_AFTER_FAILURE_S + 1
    shop.dodo.reset()
    recovered = await shop.client.get(PRICING)
    assert recovered.status_code == 200
    assert recovered.json()["price_minor"] == objects.UNIT_PRICE_MINOR


async def test_a_product_the_provider_does_not_know_is_a_503_not_a_500(
    shop: Shop, settings: Settings
) -> None:
    shop.dodo.fail_next(404, path_prefix="/products/")
    response = await shop.client.get(PRICING)
    assert response.status_code == 503
    assert response.json()["detail"]["code"] == "PRICING_UNAVAILABLE"


async def test_payments_off_pricing_answers_503(
    payments_off: tuple[httpx.AsyncClient, object],
) -> None:
    response = await payments_off[0].get(PRICING)
    assert response.status_code == 503
    assert response.json()["detail"]["code"] == "PAYMENTS_NOT_CONFIGURED"


async def test_local_checkout_pricing_is_its_configured_test_price(
    settings: Settings, resources: Resources
) -> None:
    local = settings.model_copy(
        update={"PAYMENTS_BACKEND": "local", "CREDIT_PRICE_MINOR": 100, "PAYMENT_CURRENCY": "INR"}
    )
    built = build_test_resources(local, resources.database)
    app = create_app(local, resources=built)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        response = await client.get(PRICING)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["price_minor"], body["price"], body["currency"], body["tax_inclusive"]) == (
        100,
        1.0,
        "INR",
        True,
    )
