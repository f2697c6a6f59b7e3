"""The `shop` fixture: the real app with payments on Dodo, faked at its HTTP boundary by the
loopback fake Dodo, and a signed-up, verified buyer with the 3 free credits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from app.core.config import Settings
from app.main import create_app
from app.resources import Resources
from tests.auth.flows import FRONTEND, Mail, signed_up_and_verified
from tests.conftest import build_test_resources
from tests.integrations.payments import dodo_objects as objects
from tests.integrations.payments.fake_dodo import API_KEY, WEBHOOK_SECRET, FakeDodo

WEBHOOK = "/api/v1/payments/webhook"


@dataclass
class Shop:
    client: httpx.AsyncClient
    dodo: FakeDodo
    resources: Resources

    async def deliver(self, delivery: object, path: str = WEBHOOK) -> httpx.Response:
        return await self.dodo.deliver(self.client, path, delivery)  # type: ignore[arg-type]

    async def credits(self) -> int:
        return int((await self.client.get("/api/v1/user/credits")).json())

    async def buy(self, quantity: int) -> str:
        """Checkout and pay at the (fake) hosted page; the payment id."""
        response = await self.client.post("/api/v1/payments/checkout", json={"quantity": quantity})
        assert response.status_code == 200, response.text
        payment = self.dodo.complete_session(response.json()["session_id"])
        return str(payment["payment_id"])


@pytest.fixture(scope="module")
async def dodo() -> AsyncIterator[FakeDodo]:
    async with FakeDodo() as fake:
        yield fake


@pytest.fixture
async def shop(
    dodo: FakeDodo, settings: Settings, resources: Resources, mail: Mail
) -> AsyncIterator[Shop]:
    dodo.reset()
    configured = settings.model_copy(
        update={
            "PAYMENTS_BACKEND": "dodo",
            "DODO_PAYMENTS_API_KEY": SecretStr(API_KEY),
            "DODO_PAYMENTS_BASE_URL": dodo.base_url,
            "DODO_PAYMENTS_MAX_RETRIES": 0,
            "DODO_PAYMENTS_PRODUCT_ID": objects.PRODUCT_ID,
            "DODO_PAYMENTS_WEBHOOK_SECRET": SecretStr(WEBHOOK_SECRET),
            "CREDIT_PRICE_MINOR": objects.UNIT_PRICE_MINOR,
            "PAYMENT_CURRENCY": objects.CURRENCY,
        }
    )
    built = build_test_resources(configured, resources.database)
    app = create_app(configured, resources=built)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND}
        ) as client,
    ):
        await signed_up_and_verified(client, Mail(mail.directory, built.database.background))
        yield Shop(client, dodo, built)


@pytest.fixture
async def payments_off(
    settings: Settings, resources: Resources, mail: Mail
) -> AsyncIterator[tuple[httpx.AsyncClient, Mail]]:
    """A client of the app with PAYMENTS_BACKEND=off (development defaults to the local
    checkout), and its mailbox."""
    off = settings.model_copy(update={"PAYMENTS_BACKEND": "off"})
    built = build_test_resources(off, resources.database)
    app = create_app(off, resources=built)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers={"Origin": FRONTEND},
        ) as client,
    ):
        yield client, Mail(mail.directory, built.database.background)
