"""With EMAIL_BACKEND=brevo the account emails go out through Brevo's API (faked at the HTTP
boundary with respx), and a failing Brevo never fails the request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from pydantic import SecretStr

from app.core.config import Settings
from app.main import create_app
from app.resources import Resources
from tests.auth.flows import FRONTEND, PASSWORD, new_email
from tests.conftest import build_test_resources

BREVO = "https://brevo.test"


@pytest.fixture
async def brevo_app(
    settings: Settings, resources: Resources
) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    configured = settings.model_copy(
        update={
            "EMAIL_BACKEND": "brevo",
            "BREVO_API_KEY": SecretStr("xkeysib-app-test"),
            "BREVO_BASE_URL": BREVO,
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
        yield client, built


async def _sign_up(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/signup", json={"name": "Brevo User", "email": email, "password": PASSWORD}
    )


async def test_signup_code_is_sent_through_brevo(
    brevo_app: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = brevo_app
    email = new_email()
    with respx.mock(base_url=BREVO) as brevo:
        route = brevo.post("/v3/smtp/email").respond(201, json={"messageId": "<m1@brevo>"})
        response = await _sign_up(client, email)
        await resources.database.background.drain()
    assert response.status_code == 200
    assert route.call_count == 1
    sent = json.loads(route.calls.last.request.content)
    assert sent["to"] == [{"email": email, "name": "Brevo User"}]
    assert route.calls.last.request.headers["api-key"] == "xkeysib-app-test"
    assert any(ch.isdigit() for ch in sent["textContent"])


async def test_failing_brevo_is_retried_and_never_fails_the_request(
    brevo_app: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = brevo_app
    with respx.mock(base_url=BREVO) as brevo:
        route = brevo.post("/v3/smtp/email").respond(503)
        response = await _sign_up(client, new_email())
        await resources.database.background.drain()
    assert response.status_code == 200
    assert route.call_count == 3  # the first try and two retries
