"""The web app can tell "signed in", "session expired" and "anonymous" (issue 11 items 4, 6):
`GET /auth/session` answers everyone, and a request whose access cookie is gone while a
refresh session exists answers 401 (refresh and retry), not 400 NO_COOKIES_FOUND."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.auth.flows import Mail, bearer_login, signed_up_and_verified
from tests.mailbox import latest_link


async def test_deleted_access_cookie_with_a_refresh_session_answers_401(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    client.cookies.delete("access_token")
    me = await client.get("/api/v1/user/me")
    assert me.status_code == 401
    assert me.json()["detail"]["code"] == "NOT_AUTHENTICATED"
    assert me.headers["www-authenticate"] == "Bearer"
    # The web app then refreshes once and retries, which works.
    assert (await client.post("/api/v1/auth/refresh")).status_code == 200
    assert (await client.get("/api/v1/user/me")).status_code == 200


async def test_session_presence_cookie_carries_no_secret_and_logout_clears_it(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    marker = client.cookies.get("has_session", path="/")
    assert marker == "1"
    assert (await client.post("/api/v1/auth/logout")).status_code == 200
    assert client.cookies.get("has_session") is None
    me = await client.get("/api/v1/user/me")
    assert me.status_code == 400
    assert me.json()["detail"]["code"] == "NO_COOKIES_FOUND"


async def test_anonymous_requests_still_answer_no_cookies_found(
    client: httpx.AsyncClient,
) -> None:
    me = await client.get("/api/v1/user/me")
    assert me.status_code == 400
    assert me.json()["detail"]["code"] == "NO_COOKIES_FOUND"


async def test_session_endpoint_answers_anonymous_callers_with_200(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/auth/session")
    assert response.status_code == 200
    assert response.json() == {"authenticated": False, "user_id": None, "expires_at": None}


async def test_session_endpoint_names_the_user_and_expiry_without_secrets(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    me = (await client.get("/api/v1/user/me")).json()
    by_cookie = await client.get("/api/v1/auth/session")
    assert by_cookie.status_code == 200
    body = by_cookie.json()
    assert body["authenticated"] is True
    assert body["user_id"] == me["id"]
    assert datetime.fromisoformat(body["expires_at"]).utcoffset() is not None
    assert client.cookies["access_token"] not in by_cookie.text

    token = await bearer_login(client, email)
    client.cookies.clear()
    by_bearer = await client.get(
        "/api/v1/auth/session", headers={"Authorization": f"Bearer {token}"}
    )
    assert by_bearer.json()["authenticated"] is True
    garbage = await client.get(
        "/api/v1/auth/session", headers={"Authorization": "Bearer not-a-token"}
    )
    assert garbage.status_code == 200
    assert garbage.json()["authenticated"] is False


async def test_session_endpoint_says_false_after_logout(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    token = await bearer_login(client, email)
    await client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    client.cookies.clear()
    response = await client.get(
        "/api/v1/auth/session", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.json()["authenticated"] is False


async def test_failed_cookie_refresh_clears_the_session_marker(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    """A session ended elsewhere (a password reset ends them all) must not leave the browser
    answering 401 forever: the failed refresh clears its cookies, then it is anonymous."""
    email = await signed_up_and_verified(client, mail)
    assert (await client.post("/api/v1/auth/forgot-password", json={"email": email})).is_success
    await mail.background.drain()
    link = latest_link(mail.directory, email, "reset-password?token=")
    token = parse_qs(urlsplit(link).query)["token"][0]
    reset = await client.post(
        "/api/v1/auth/reset-password",
        json={
            "token": token,
            "new_password": "brand new phrase",
            "confirm_password": "brand new phrase",
        },
    )
    assert reset.status_code == 200, reset.text

    client.cookies.delete("access_token")
    assert (await client.get("/api/v1/user/me")).status_code == 401
    refreshed = await client.post("/api/v1/auth/refresh")
    assert refreshed.status_code == 401
    assert refreshed.json()["detail"]["code"] == "NOT_AUTHENTICATED"
    assert client.cookies.get("has_session") is None
    me = await client.get("/api/v1/user/me")
    assert me.status_code == 400
    assert me.json()["detail"]["code"] == "NO_COOKIES_FOUND"
