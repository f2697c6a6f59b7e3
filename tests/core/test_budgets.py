"""Rate-limit budgets that fit real use (issue 11 item 3, SPEC §8): brute-force budgets count
wrong guesses per IP and per account; handle checks, resends and status polling have their
own budgets and never spend the general one.

The web app's minute is compressed into one burst here: with moving windows, every call
landing in the same window is the worst case, so a burst that never sees 429 means the same
calls spread over a minute never do either. No assertion depends on timing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.resources import Resources
from tests.auth.flows import FRONTEND, PASSWORD, Mail, new_email
from tests.conftest import build_test_resources
from tests.generation.steps import first_style_id, generate, upload


@pytest.fixture
async def limited(
    settings: Settings, resources: Resources, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    """The app with rate limits on (defaults unless the test says otherwise)."""
    overrides: dict[str, Any] = {"RATE_LIMIT_ENABLED": True, **getattr(request, "param", {})}
    own = settings.model_copy(update=overrides)
    own_resources = build_test_resources(own, resources.database)
    app = create_app(own, resources=own_resources)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND}
        ) as client,
    ):
        yield client, own_resources


def _mail(resources: Resources) -> Mail:
    return Mail(resources.settings.MAIL_DIR, resources.database.background)


async def _web_app_signup(client: httpx.AsyncClient, mail: Mail, email: str) -> list[int]:
    """The web app's sign-up: signup, status and handle checks, the code, then the app."""
    statuses = []
    signup = await client.post(
        "/api/v1/auth/signup", json={"name": "Office Person", "email": email, "password": PASSWORD}
    )
    statuses.append(signup.status_code)
    handle = signup.json().get("verify_token", "")
    for path, body in (
        ("/api/v1/auth/check-email-status", {"email": email}),
        ("/api/v1/auth/verify-code-token", {"token": handle}),
    ):
        statuses.append((await client.post(path, json=body)).status_code)
    code = await mail.code_for(email)
    verify = await client.post("/api/v1/auth/verify-signup", json={"token": handle, "code": code})
    statuses.append(verify.status_code)
    statuses.append((await client.get("/api/v1/user/me")).status_code)
    return statuses


async def test_twenty_signups_from_one_ip_in_a_minute_all_succeed(
    limited: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = limited
    mail = _mail(resources)
    for _ in range(20):
        client.cookies.clear()
        assert await _web_app_signup(client, mail, new_email()) == [200] * 5


@pytest.mark.parametrize("limited", [{"TRUSTED_PROXIES": "127.0.0.1/32"}], indirect=True)
async def test_twenty_wrong_passwords_for_one_account_from_twenty_ips_are_cut_off(
    limited: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = limited
    email = new_email()
    await _web_app_signup(client, _mail(resources), email)
    client.cookies.clear()
    statuses = []
    for i in range(20):
        response = await client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": "wrong password"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        )
        statuses.append(response.status_code)
    assert statuses == [401] * 10 + [429] * 10


async def test_wrong_guesses_from_one_ip_are_cut_off_but_handle_checks_are_not(
    limited: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, _ = limited
    wrong = [
        (
            await client.post(
                "/api/v1/auth/login", json={"email": new_email(), "password": "wrong password"}
            )
        ).status_code
        for _ in range(11)
    ]
    assert wrong == [401] * 10 + [429]
    code = await client.post(
        "/api/v1/auth/verify-login", json={"token": "some-handle", "code": "123456"}
    )
    assert code.status_code == 429
    # Handle checks have their own budget: the guesser's spent budget does not block them.
    checks = [
        (await client.post("/api/v1/auth/verify-code-token", json={"token": "x" * 20})).status_code
        for _ in range(30)
    ]
    assert checks == [200] * 30


@pytest.mark.parametrize("limited", [{"RATE_LIMIT_DEFAULT": "10/minute"}], indirect=True)
async def test_three_tabs_polling_one_job_every_second_for_a_minute_never_see_429(
    limited: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = limited
    await _web_app_signup(client, _mail(resources), new_email())
    uploaded = await upload(client)
    started = await generate(client, uploaded["file_url"], await first_style_id(client))
    assert started.status_code == 200, started.text
    image_id = started.json()["image_id"]
    tabs = [client, client, client]  # one browser: the tabs share its cookies
    statuses = set()
    for _second in range(60):
        for tab in tabs:
            statuses.add((await tab.get(f"/api/v1/image/status/{image_id}")).status_code)
    assert statuses == {200}
    # 180 polls later the general budget (10/minute) is still there for the rest of the app.
    assert (await client.get("/api/v1/user/me")).status_code == 200
    assert (await client.get("/api/v1/user/images")).status_code == 200


@pytest.mark.parametrize("limited", [{"RATE_LIMIT_STATUS": "5/minute"}], indirect=True)
async def test_status_polling_has_a_budget_of_its_own(
    limited: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = limited
    await _web_app_signup(client, _mail(resources), new_email())
    polls = [(await client.get("/api/v1/image/status/999999")).status_code for _ in range(6)]
    assert polls == [404] * 5 + [429]
    assert (await client.get("/api/v1/user/me")).status_code == 200
