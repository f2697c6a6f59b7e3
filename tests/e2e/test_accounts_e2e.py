"""The web app's account flows against the real server process (uvicorn, real sockets),
including the promises that need real concurrency or several processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.auth.flows import FRONTEND, PASSWORD, new_email
from tests.live_server import LiveServer, start_live_server
from tests.mailbox import latest_code

pytestmark = pytest.mark.e2e


async def _code(mail_dir: Path, email: str, attempts: int = 100) -> str:
    """The server sends mail after its response: wait for the file to appear."""
    for _ in range(attempts):
        try:
            return latest_code(mail_dir, email)
        except AssertionError:
            await asyncio.sleep(0.05)
    return latest_code(mail_dir, email)


async def _signed_up(client: httpx.AsyncClient, mail_dir: Path) -> str:
    email = new_email()
    signup = await client.post(
        "/api/v1/auth/signup", json={"name": "E2E User", "email": email, "password": PASSWORD}
    )
    assert signup.status_code == 200, signup.text
    code = await _code(mail_dir, email)
    verify = await client.post(
        "/api/v1/auth/verify-signup", json={"token": signup.json()["verify_token"], "code": code}
    )
    assert verify.status_code == 200, verify.text
    return email


def _spa(server: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, headers={"Origin": FRONTEND}, timeout=30)


async def test_spa_signup_login_refresh_logout_against_the_real_server(
    live_server: LiveServer,
) -> None:
    async with _spa(live_server) as client:
        email = await _signed_up(client, live_server.mail_dir)
        me = await client.get("/api/v1/user/me")
        assert me.json()["email"] == email
        assert me.json()["credits"] == 3

        client.cookies.clear()
        token = await client.post(
            "/api/v1/auth/request-login-token", json={"email": email, "password": PASSWORD}
        )
        code = await _code(live_server.mail_dir, email)
        login = await client.post(
            "/api/v1/auth/verify-login", json={"token": token.json()["token"], "code": code}
        )
        assert login.status_code == 200
        assert (await client.post("/api/v1/auth/refresh")).status_code == 200
        assert (await client.get("/api/v1/user/me")).status_code == 200
        assert (await client.post("/api/v1/auth/logout")).status_code == 200
        assert (await client.get("/api/v1/user/me")).json()["detail"]["code"] == (
            "NO_COOKIES_FOUND"
        )


async def test_auth09_ten_concurrent_refreshes_leave_every_tab_signed_in(
    live_server: LiveServer,
) -> None:
    async with _spa(live_server) as client:
        await _signed_up(client, live_server.mail_dir)
        refresh = client.cookies.get("refresh_token", path="/api/v1/auth")
    tabs = [_spa(live_server) for _ in range(10)]
    try:
        answers = await asyncio.gather(
            *(tab.post("/api/v1/auth/refresh", json={"refresh_token": refresh}) for tab in tabs)
        )
        assert [a.status_code for a in answers] == [200] * 10
        checks = await asyncio.gather(
            *(
                tab.get(
                    "/api/v1/user/me",
                    headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
                )
                for tab, answer in zip(tabs, answers, strict=True)
            )
        )
        assert [c.status_code for c in checks] == [200] * 10
        # Each tab can keep refreshing with what it was given.
        again = await asyncio.gather(
            *(
                tab.post("/api/v1/auth/refresh", json={"refresh_token": a.json()["refresh_token"]})
                for tab, a in zip(tabs, answers, strict=True)
            )
        )
        assert all(a.status_code == 200 for a in again)
    finally:
        await asyncio.gather(*(tab.aclose() for tab in tabs))


@pytest.fixture
async def two_servers(
    database_url: str, tmp_path: Path, redis_url: str
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    """Two server processes sharing the database and this run's own Redis (emptied first, so
    every test starts with empty buckets)."""
    env = {
        "DATABASE_URL": database_url,
        "MAIL_DIR": str(tmp_path / "mail"),
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_STORAGE_URL": redis_url,
        # Generous general limit; the auth limit is what RL-01 checks.
        "RATE_LIMIT_DEFAULT": "1000/minute",
        "RATE_LIMIT_AUTH": "10/minute",
    }
    first = await start_live_server(env, tmp_path)
    try:
        second = await start_live_server(env, tmp_path)
        try:
            yield first, second
        finally:
            await second.stop()
    finally:
        await first.stop()


async def test_auth07_logout_holds_across_two_server_processes(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    async with _spa(first) as client:
        await _signed_up(client, first.mail_dir)
        access = client.cookies.get("access_token")
        assert (await client.post("/api/v1/auth/logout")).status_code == 200
    bearer = {"Authorization": f"Bearer {access}"}
    async with httpx.AsyncClient(timeout=10) as plain:
        for server in (first, second, first, second):
            response = await plain.get(f"{server.base_url}/api/v1/user/me", headers=bearer)
            assert response.status_code == 401


async def test_rl01_account_login_limit_holds_whichever_process_answers(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    first, second = two_servers
    email = new_email()
    statuses: list[int] = []
    async with httpx.AsyncClient(timeout=10) as client:
        for i in range(12):
            server = (first, second)[i % 2]
            response = await client.post(
                f"{server.base_url}/api/v1/auth/login",
                json={"email": email, "password": "wrong password"},
            )
            statuses.append(response.status_code)
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]


async def test_direct_login_refresh_grace_and_reset_against_the_real_server(
    live_server: LiveServer,
) -> None:
    from urllib.parse import parse_qs, urlsplit

    from tests.mailbox import latest_link

    async with _spa(live_server) as client:
        email = await _signed_up(client, live_server.mail_dir)
        client.cookies.clear()
        login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200
        first_refresh = login.json()["refresh_token"]

        # Rotate, then present the old token again: within the grace window (10 s by default)
        # it still gets a session (reuse after the window is AUTH-08, tests/auth).
        rotated = await client.post("/api/v1/auth/refresh", json={"refresh_token": first_refresh})
        assert rotated.status_code == 200
        within_grace = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": first_refresh}
        )
        assert within_grace.status_code == 200

        # Reset: link from the mail folder, single use, every session ended.
        assert (
            await client.post("/api/v1/auth/forgot-password", json={"email": email})
        ).status_code == 200
        for _ in range(100):
            try:
                link = latest_link(live_server.mail_dir, email, "/reset-password?token=")
                break
            except AssertionError:
                await asyncio.sleep(0.05)
        token = parse_qs(urlsplit(link).query)["token"][0]
        body = {
            "token": token,
            "new_password": "new pass phrase",
            "confirm_password": "new pass phrase",
        }
        assert (await client.post("/api/v1/auth/reset-password", json=body)).status_code == 200
        assert (await client.post("/api/v1/auth/reset-password", json=body)).status_code == 400
        bearer = {"Authorization": f"Bearer {rotated.json()['access_token']}"}
        assert (await client.get("/api/v1/user/me", headers=bearer)).status_code == 401
        relogin = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": "new pass phrase"}
        )
        assert relogin.status_code == 200
