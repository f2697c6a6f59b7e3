"""Login CSRF (issue 9, 7): a cross-site page must not sign a victim's browser into the
attacker's account through the endpoints that set session cookies. Requests from our own
origins, and API clients that send no Origin/Referer at all, keep working."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.auth.flows import PASSWORD, Mail, new_email, sign_up, signed_up_and_verified

EVIL = "https://evil.example"
CROSS_SITE_HEADERS = [
    {"Origin": EVIL},
    {"Origin": "null"},
    {"Referer": f"{EVIL}/login-csrf.html"},
    {"Sec-Fetch-Site": "cross-site"},
]


@pytest.fixture
async def api_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A script or server-side client: no Origin, no Referer."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _cross_site(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    """The victim's browser on the attacker's page: the attacker's headers, not the SPA's."""
    client.headers.pop("Origin", None)
    return headers


def _assert_refused_without_cookies(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["detail"]["code"] == "CSRF_FAILED"
    assert not response.headers.get_list("set-cookie")


@pytest.mark.parametrize("headers", CROSS_SITE_HEADERS)
async def test_cross_site_oauth2_form_cannot_sign_the_victim_into_the_attackers_account(
    client: httpx.AsyncClient, mail: Mail, headers: dict[str, str]
) -> None:
    attacker = await signed_up_and_verified(client, mail)
    client.cookies.clear()
    response = await client.post(
        "/api/v1/auth/login",
        data={"username": attacker, "password": PASSWORD},
        headers=_cross_site(client, headers),
    )
    _assert_refused_without_cookies(response)


@pytest.mark.parametrize("headers", CROSS_SITE_HEADERS[:2])
async def test_cross_site_json_login_is_refused(
    client: httpx.AsyncClient, mail: Mail, headers: dict[str, str]
) -> None:
    attacker = await signed_up_and_verified(client, mail)
    client.cookies.clear()
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": attacker, "password": PASSWORD},
        headers=_cross_site(client, headers),
    )
    _assert_refused_without_cookies(response)


async def test_cross_site_code_endpoints_are_refused_and_the_code_stays_usable(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = new_email()
    handle = await sign_up(client, email)
    code = await mail.code_for(email)
    refused = await client.post(
        "/api/v1/auth/verify-signup",
        json={"token": handle, "code": code},
        headers={"Origin": EVIL},
    )
    _assert_refused_without_cookies(refused)
    assert (
        await client.post("/api/v1/auth/verify-signup", json={"token": handle, "code": code})
    ).status_code == 200

    client.cookies.clear()
    login = await client.post(
        "/api/v1/auth/request-login-token", json={"email": email, "password": PASSWORD}
    )
    login_handle = login.json()["token"]
    login_code = await mail.code_for(email)
    refused = await client.post(
        "/api/v1/auth/verify-login",
        json={"token": login_handle, "code": login_code},
        headers={"Origin": EVIL},
    )
    _assert_refused_without_cookies(refused)
    ok = await client.post(
        "/api/v1/auth/verify-login", json={"token": login_handle, "code": login_code}
    )
    assert ok.status_code == 200


async def test_api_clients_without_origin_still_log_in_and_use_the_bearer(
    client: httpx.AsyncClient, api_client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    response = await api_client.post(
        "/api/v1/auth/login", data={"username": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    api_client.cookies.clear()
    me = await api_client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200


async def test_the_web_apps_own_origin_logs_in(client: httpx.AsyncClient, mail: Mail) -> None:
    email = await signed_up_and_verified(client, mail)
    client.cookies.clear()
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"Sec-Fetch-Site": "same-site"},
    )
    assert response.status_code == 200
    assert "access_token" in response.cookies
