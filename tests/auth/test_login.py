"""Signing in: by emailed code, directly, and the failures the web app relies on."""

from __future__ import annotations

import asyncio

import argon2
import httpx
import pytest
from fastapi import FastAPI

from tests.auth.flows import (
    PASSWORD,
    Mail,
    bearer_login,
    new_email,
    sign_up,
    signed_up_and_verified,
)
from tests.loop_probe import LoopProbe


async def test_login_code_flow_signs_in(client: httpx.AsyncClient, mail: Mail) -> None:
    email = await signed_up_and_verified(client, mail)
    client.cookies.clear()
    response = await client.post(
        "/api/v1/auth/request-login-token", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200
    handle = response.json()["token"]
    assert (await client.post("/api/v1/auth/verify-code-token", json={"token": handle})).json() == {
        "valid": True
    }
    code = await mail.code_for(email)
    verified = await client.post("/api/v1/auth/verify-login", json={"token": handle, "code": code})
    assert verified.status_code == 200
    assert (await client.get("/api/v1/user/me")).json()["email"] == email
    reused = await client.post("/api/v1/auth/verify-login", json={"token": handle, "code": code})
    assert reused.status_code == 400


async def test_request_login_token_refuses_wrong_password_and_unknown_email_alike(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    wrong = await client.post(
        "/api/v1/auth/request-login-token", json={"email": email, "password": "not the one"}
    )
    unknown = await client.post(
        "/api/v1/auth/request-login-token", json={"email": new_email(), "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
    assert wrong.json()["detail"]["code"] == "INVALID_CREDENTIALS"


async def test_unverified_user_cannot_get_a_login_code(client: httpx.AsyncClient) -> None:
    await sign_up(client, email := new_email())
    response = await client.post(
        "/api/v1/auth/request-login-token", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 403
    assert response.json()["detail"]["code"] == "EMAIL_NOT_VERIFIED"


async def test_direct_login_with_json_returns_tokens_and_cookies(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    client.cookies.clear()
    response = await client.post(
        "/api/v1/auth/login", json={"email": email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 600
    assert {"access_token", "refresh_token"} <= set(response.cookies)
    me = await client.get(
        "/api/v1/user/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200


async def test_direct_login_accepts_the_oauth2_password_form(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    response = await client.post(
        "/api/v1/auth/login", data={"username": email, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["access_token"]


async def test_direct_login_failure_is_401_invalid_credentials(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": "nope!"})
    assert response.status_code == 401
    assert response.json()["detail"]["code"] == "INVALID_CREDENTIALS"


async def test_direct_login_with_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_direct_login_unverified_is_403(client: httpx.AsyncClient) -> None:
    await sign_up(client, email := new_email())
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 403
    assert response.json()["detail"]["code"] == "EMAIL_NOT_VERIFIED"


async def test_direct_login_refused_when_login_code_required(
    app: FastAPI, client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    resources = app.state.resources
    resources.settings = resources.settings.model_copy(update={"REQUIRE_LOGIN_CODE": True})
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 403
    assert response.json()["detail"]["code"] == "EMAIL_CODE_REQUIRED"


async def test_anonymous_request_is_400_no_cookies_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/user/me")
    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "NO_COOKIES_FOUND"


async def test_invalid_access_token_is_401_with_www_authenticate(
    client: httpx.AsyncClient,
) -> None:
    client.cookies.set("access_token", "not-a-jwt")
    response = await client.get("/api/v1/user/me")
    assert response.status_code == 401
    assert response.json()["detail"]["code"] == "NOT_AUTHENTICATED"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_auth04_login_failures_are_indistinguishable(
    client: httpx.AsyncClient, mail: Mail, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown email and wrong password answer alike and do the same work: exactly one argon2id
    verify each, against hashes with the same parameters (the timings are in bench/)."""
    email = await signed_up_and_verified(client, mail)
    client.cookies.clear()
    probe = LoopProbe(monkeypatch, asyncio.get_running_loop())
    probe.wrap(argon2.PasswordHasher, "hash")
    probe.wrap(argon2.PasswordHasher, "verify")
    bodies: set[str] = set()
    statuses: set[int] = set()
    work: dict[str, list[list[tuple[str, dict[str, int]]]]] = {"unknown": [], "wrong": []}
    for i in range(3):
        for side, target in (("unknown", new_email()), ("wrong", email)):
            before = len(probe.calls)
            response = await client.post(
                "/api/v1/auth/login", json={"email": target, "password": f"wrong-{i}"}
            )
            bodies.add(response.text)
            statuses.add(response.status_code)
            work[side].append(
                [
                    (name, _parameters(args[1] if name == "verify" else None))
                    for name, _, args in probe.calls[before:]
                ]
            )
    assert statuses == {401}
    assert len(bodies) == 1
    one_verify = [("verify", _parameters(probe.args("verify")[-1][1]))]
    assert work == {"unknown": [one_verify] * 3, "wrong": [one_verify] * 3}
    assert all(probe.served())


def _parameters(phc: str | None) -> dict[str, int]:
    if phc is None:
        return {}
    found = argon2.extract_parameters(phc)
    return {"m": found.memory_cost, "t": found.time_cost, "p": found.parallelism}


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "a@example.com"},
        {"email": "a@example.com", "password": ""},
    ],
)
async def test_bad_login_bodies_are_422(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    response = await client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


async def test_bearer_login_helper_round_trip(client: httpx.AsyncClient, mail: Mail) -> None:
    email = await signed_up_and_verified(client, mail)
    token = await bearer_login(client, email)
    client.cookies.clear()
    response = await client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {token}"})
    assert response.json()["email"] == email
