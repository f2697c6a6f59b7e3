"""AUTH-14, no targeted lockout: per-account limits count failures only, a brute force gets at
most the per-account failure budget of password verdicts, and the owner of an account under
attack still signs in with the right password followed by the emailed code (step-up).
Password reset under a flood still works from the newest link in the owner's inbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.resources import Resources
from tests.auth.flows import FRONTEND, PASSWORD, Mail, new_email
from tests.conftest import build_test_resources
from tests.mailbox import latest_link, messages_to

FAILURE_BUDGET = 10  # RATE_LIMIT_AUTH's default, "10/minute"
OWNER_IP = "198.51.100.200"


def _from(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


@pytest.fixture
async def limited(
    settings: Settings, resources: Resources
) -> AsyncIterator[tuple[httpx.AsyncClient, Mail]]:
    overrides: dict[str, Any] = {"RATE_LIMIT_ENABLED": True, "TRUSTED_PROXIES": "127.0.0.1/32"}
    limited_settings = settings.model_copy(update=overrides)
    app_resources = build_test_resources(limited_settings, resources.database)
    app = create_app(limited_settings, resources=app_resources)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND}
        ) as client,
    ):
        yield client, Mail(limited_settings.MAIL_DIR, resources.database.background)


async def _verified_account(client: httpx.AsyncClient, mail: Mail) -> str:
    email = new_email()
    signup = await client.post(
        "/api/v1/auth/signup",
        json={"name": "Ada Lovelace", "email": email, "password": PASSWORD},
        headers=_from(OWNER_IP),
    )
    handle = signup.json()["verify_token"]
    verified = await client.post(
        "/api/v1/auth/verify-signup",
        json={"token": handle, "code": await mail.code_for(email)},
        headers=_from(OWNER_IP),
    )
    assert verified.status_code == 200, verified.text
    client.cookies.clear()
    await mail.background.drain()  # the welcome mail
    return email


def _is_verdict(response: httpx.Response) -> bool:
    """An answer that tells the guesser their password was wrong."""
    return response.status_code in (400, 401) and response.json()["detail"]["code"] in (
        "INVALID_CREDENTIALS",
        "EMAIL_NOT_VERIFIED",
    )


async def test_auth14_owner_signs_in_with_password_and_code_after_100_failures_from_50_ips(
    limited: tuple[httpx.AsyncClient, Mail],
) -> None:
    client, mail = limited
    email = await _verified_account(client, mail)
    mails_before = len(messages_to(mail.directory, email))

    verdicts = 0
    decoy_handles: list[str] = []
    for attempt in range(100):
        ip = f"203.0.113.{attempt % 50}"
        guess = {"email": email, "password": f"guess number {attempt}"}
        if attempt % 2:
            response = await client.post("/api/v1/auth/login", json=guess, headers=_from(ip))
            assert response.status_code in (401, 429), response.text
        else:
            response = await client.post(
                "/api/v1/auth/request-login-token", json=guess, headers=_from(ip)
            )
            assert response.status_code in (400, 200), response.text
            if response.status_code == 200:
                decoy_handles.append(response.json()["token"])
        verdicts += _is_verdict(response)
    # The brute force learnt "wrong" at most FAILURE_BUDGET times, and nothing after that.
    assert verdicts == FAILURE_BUDGET
    assert decoy_handles
    # Past the budget the code login answers like a right password would, but mails nothing.
    await mail.background.drain()
    assert len(messages_to(mail.directory, email)) == mails_before
    decoy = decoy_handles[-1]
    probe = await client.post(
        "/api/v1/auth/verify-code-token", json={"token": decoy}, headers=_from("203.0.113.77")
    )
    assert probe.json() == {"valid": True}
    for code in ("000000", "123456", "999999"):
        tried = await client.post(
            "/api/v1/auth/verify-login",
            json={"token": decoy, "code": code},
            headers=_from("203.0.113.78"),
        )
        assert tried.json()["detail"]["code"] == "INVALID_CODE"

    # The owner: the right password, then the code from the mail.
    step_up = await client.post(
        "/api/v1/auth/request-login-token",
        json={"email": email, "password": PASSWORD},
        headers=_from(OWNER_IP),
    )
    assert step_up.status_code == 200, step_up.text
    code = await mail.code_for(email)
    signed_in = await client.post(
        "/api/v1/auth/verify-login",
        json={"token": step_up.json()["token"], "code": code},
        headers=_from(OWNER_IP),
    )
    assert signed_in.status_code == 200, signed_in.text
    me = await client.get("/api/v1/user/me", headers=_from(OWNER_IP))
    assert me.json()["email"] == email


async def test_auth14_the_attackers_decoys_do_not_expire_the_owners_code(
    limited: tuple[httpx.AsyncClient, Mail],
) -> None:
    client, mail = limited
    email = await _verified_account(client, mail)
    for attempt in range(FAILURE_BUDGET):
        await client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": "wrong"},
            headers=_from(f"203.0.113.{attempt}"),
        )
    step_up = await client.post(
        "/api/v1/auth/request-login-token",
        json={"email": email, "password": PASSWORD},
        headers=_from(OWNER_IP),
    )
    code = await mail.code_for(email)
    for attempt in range(5):
        decoy = await client.post(
            "/api/v1/auth/request-login-token",
            json={"email": email, "password": "still wrong"},
            headers=_from(f"203.0.113.{100 + attempt}"),
        )
        assert decoy.status_code == 200
    signed_in = await client.post(
        "/api/v1/auth/verify-login",
        json={"token": step_up.json()["token"], "code": code},
        headers=_from(OWNER_IP),
    )
    assert signed_in.status_code == 200, signed_in.text


async def test_successful_logins_do_not_spend_the_account_failure_budget(
    limited: tuple[httpx.AsyncClient, Mail],
) -> None:
    client, mail = limited
    email = await _verified_account(client, mail)
    for attempt in range(FAILURE_BUDGET + 5):
        response = await client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": PASSWORD},
            headers=_from(f"192.0.2.{attempt}"),
        )
        assert response.status_code == 200, (attempt, response.text)
    statuses = [
        (
            await client.post(
                "/api/v1/auth/login",
                json={"email": email, "password": "wrong"},
                headers=_from(f"203.0.113.{attempt}"),
            )
        ).status_code
        for attempt in range(FAILURE_BUDGET + 1)
    ]
    assert statuses == [401] * FAILURE_BUDGET + [429]


async def test_reset_flood_cannot_keep_the_owner_from_resetting(
    limited: tuple[httpx.AsyncClient, Mail],
) -> None:
    client, mail = limited
    email = await _verified_account(client, mail)
    for attempt in range(FAILURE_BUDGET):
        flood = await client.post(
            "/api/v1/auth/forgot-password",
            json={"email": email},
            headers=_from(f"203.0.113.{attempt}"),
        )
        assert flood.status_code == 200
    await mail.background.drain()
    link = latest_link(mail.directory, email, "/reset-password?token=")
    token = parse_qs(urlsplit(link).query)["token"][0]
    # The flood goes on: the same answer, no 429 and no new mail that would replace the link.
    mails = len(messages_to(mail.directory, email))
    for attempt in range(5):
        more = await client.post(
            "/api/v1/auth/forgot-password",
            json={"email": email},
            headers=_from(f"203.0.113.{50 + attempt}"),
        )
        assert more.status_code == 200
    owner_asks = await client.post(
        "/api/v1/auth/forgot-password", json={"email": email}, headers=_from(OWNER_IP)
    )
    assert owner_asks.status_code == 200
    await mail.background.drain()
    assert len(messages_to(mail.directory, email)) == mails
    new_password = "owner's new passphrase"
    reset = await client.post(
        "/api/v1/auth/reset-password",
        json={"token": token, "new_password": new_password, "confirm_password": new_password},
        headers=_from(OWNER_IP),
    )
    assert reset.status_code == 200, reset.text
    login = await client.post(
        "/api/v1/auth/request-login-token",
        json={"email": email, "password": new_password},
        headers=_from(OWNER_IP),
    )
    assert login.status_code == 200
    assert await mail.code_for(email)
