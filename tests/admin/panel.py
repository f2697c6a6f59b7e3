"""Driving /admin like a browser does: the login form with its CSRF token, then pages."""

from __future__ import annotations

import re

import httpx

from app.core.config import Settings

_HIDDEN_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def token_in(html: str) -> str:
    found = _HIDDEN_TOKEN.search(html) or _META_TOKEN.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def login_token(client: httpx.AsyncClient) -> str:
    page = await client.get("/admin/login")
    assert page.status_code == 200, page.text
    return token_in(page.text)


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str, **headers: str
) -> httpx.Response:
    token = await login_token(client)
    return await client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrf_token": token},
        headers=headers,
    )


async def sign_in_bootstrap(client: httpx.AsyncClient, settings: Settings) -> str:
    """Sign in as ADMIN_USERNAME; the session's CSRF token (renewed at login)."""
    response = await sign_in(
        client, settings.ADMIN_USERNAME, settings.ADMIN_PASSWORD.get_secret_value()
    )
    assert response.status_code == 302, response.text
    return await page_token(client)


async def page_token(client: httpx.AsyncClient, path: str = "/admin/user/list") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return token_in(page.text)


def is_login_redirect(response: httpx.Response) -> bool:
    return response.status_code == 302 and response.headers.get("location", "").endswith(
        "/admin/login"
    )
