"""Refresh rotation, reuse detection, logout and CSRF (AUTH-03, 05, 06, 08)."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI

from app.auth.tokens import TokenType
from app.resources import Resources
from tests.auth.flows import PASSWORD, Mail, new_email, signed_up_and_verified


def _refresh_cookie(client: httpx.AsyncClient) -> str:
    return str(client.cookies.get("refresh_token", path="/api/v1/auth"))


async def test_refresh_rotates_and_the_new_session_works(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    old_refresh = _refresh_cookie(client)
    response = await client.post("/api/v1/auth/refresh")
    assert response.status_code == 200
    body = response.json()
    assert body["verified"] is True
    assert body["refresh_token"] != old_refresh
    assert _refresh_cookie(client) == body["refresh_token"]
    assert (await client.get("/api/v1/user/me")).status_code == 200


async def test_refresh_accepts_the_token_in_the_body(client: httpx.AsyncClient, mail: Mail) -> None:
    await signed_up_and_verified(client, mail)
    token = _refresh_cookie(client)
    client.cookies.clear()
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    assert response.status_code == 200
    assert response.json()["access_token"]


async def test_refresh_without_any_token_is_no_cookies_found(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/refresh")
    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "NO_COOKIES_FOUND"


async def test_auth08_reuse_within_grace_keeps_the_session(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    first = _refresh_cookie(client)
    await client.post("/api/v1/auth/refresh")
    # A second tab presenting the same token a moment later.
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert again.status_code == 200
    assert (await client.get("/api/v1/user/me")).status_code == 200


async def test_auth08_reuse_after_grace_revokes_the_whole_family(
    app: FastAPI, client: httpx.AsyncClient, mail: Mail
) -> None:
    resources: Resources = app.state.resources
    resources.settings = resources.settings.model_copy(update={"REFRESH_REUSE_GRACE_S": 0})
    await signed_up_and_verified(client, mail)
    stolen = _refresh_cookie(client)
    rotated = await client.post("/api/v1/auth/refresh")
    assert rotated.status_code == 200
    time.sleep(0.01)
    replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": stolen})
    assert replay.status_code == 401
    assert replay.json()["detail"]["code"] == "NOT_AUTHENTICATED"
    # The legitimate holder's newer tokens die with the family.
    assert (await client.get("/api/v1/user/me")).status_code == 401
    assert (await client.post("/api/v1/auth/refresh")).status_code == 401


async def test_logout_revokes_access_and_refresh_and_clears_cookies(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    access = client.cookies.get("access_token")
    refresh = _refresh_cookie(client)
    response = await client.post("/api/v1/auth/logout")
    assert response.status_code == 200
    assert "access_token" not in client.cookies
    headers = {"Authorization": f"Bearer {access}"}
    assert (await client.get("/api/v1/user/me", headers=headers)).status_code == 401
    replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert replay.status_code == 401


async def test_logout_with_bearer_only_ends_that_session(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    cookie_session_ok = await client.get("/api/v1/user/me")
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as api:
        assert (await api.post("/api/v1/auth/logout", headers=bearer)).status_code == 200
        assert (await api.get("/api/v1/user/me", headers=bearer)).status_code == 401
    assert cookie_session_ok.status_code == 200


async def test_cookie_post_without_an_allowed_origin_is_csrf_failed(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    for headers in ({"Origin": "https://evil.example"}, {"Origin": ""}):
        response = await client.put("/api/v1/user/profile", json={"name": "Eve"}, headers=headers)
        assert response.status_code == 403
        assert response.json()["detail"]["code"] == "CSRF_FAILED"
    ok = await client.put("/api/v1/user/profile", json={"name": "Ada"})
    assert ok.status_code == 200


async def test_a_referer_that_cannot_be_parsed_is_csrf_failed_not_a_500(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    for referer in ("http://[::1", "http://[", "http://localhost:8000]/x"):
        headers = {"Origin": "", "Referer": referer}
        for method, path, body in (
            ("PUT", "/api/v1/user/profile", {"name": "Eve"}),
            ("POST", "/api/v1/auth/login", {"email": "eve@example.com", "password": "x"}),
        ):
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 403, (referer, path, response.text)
            assert response.json()["detail"]["code"] == "CSRF_FAILED"


async def test_bearer_requests_need_no_origin(client: httpx.AsyncClient, mail: Mail) -> None:
    email = await signed_up_and_verified(client, mail)
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    token = login.json()["access_token"]
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as api:
        response = await api.put(
            "/api/v1/user/profile",
            json={"name": "Scripted"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200


async def test_auth03_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    refresh = _refresh_cookie(client)
    client.cookies.clear()
    response = await client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {refresh}"})
    assert response.status_code == 401


async def test_auth03_access_token_is_not_a_refresh_token(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    access = client.cookies.get("access_token")
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": access})
    assert response.status_code == 401


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("forgery", ["alg_none", "wrong_key", "other_alg", "no_exp", "expired"])
async def test_auth06_forged_access_tokens_get_401(
    app: FastAPI, client: httpx.AsyncClient, mail: Mail, forgery: str
) -> None:
    await signed_up_and_verified(client, mail)
    genuine = str(client.cookies.get("access_token"))
    claims = jwt.decode(genuine, options={"verify_signature": False})
    secret = app.state.resources.settings.SECRET_KEY.get_secret_value()
    now = int(time.time())
    if forgery == "alg_none":
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    elif forgery == "wrong_key":
        token = jwt.encode(claims, "x" * 48, algorithm="HS256")
    elif forgery == "other_alg":
        token = jwt.encode(claims, secret, algorithm="HS512")
    elif forgery == "no_exp":
        token = jwt.encode({k: v for k, v in claims.items() if k != "exp"}, secret)
    else:
        token = jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, secret)
    client.cookies.clear()
    response = await client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_auth06_the_genuine_token_passes_the_same_path(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    """Control for the forgeries above: an untouched token is accepted."""
    await signed_up_and_verified(client, mail)
    genuine = client.cookies.get("access_token")
    client.cookies.clear()
    response = await client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {genuine}"})
    assert response.status_code == 200


async def test_access_token_of_a_deleted_user_is_refused(
    app: FastAPI, client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    assert (await client.delete("/api/v1/user/me")).status_code == 204
    assert (await client.get("/api/v1/user/me")).status_code == 401
    tokens = app.state.resources.tokens
    assert tokens.ttl(TokenType.ACCESS) == timedelta(minutes=10)


async def test_unknown_email_for_signup_resend_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/request-signup-token", json={"email": new_email()})
    assert response.status_code == 404
