"""BFLA-01 and CFG-02: /admin is closed to everyone but admins, its login is throttled, its
cookie is HttpOnly, SameSite=Strict and short-lived, and its forms need the CSRF token."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner
from sqladmin import Admin, ModelView
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Mount, Route

from app.admin.auth import SESSION_COOKIE, session_cookie_is_secure
from app.core.config import Settings
from app.main import create_app
from app.models import User, UserRole
from app.resources import Resources
from tests.admin.panel import (
    is_login_redirect,
    login_token,
    page_token,
    sign_in,
    sign_in_bootstrap,
)
from tests.conftest import build_test_resources
from tests.factories import create_user

PASSWORD = "correct horse battery"
SAMPLE = {"pk": "1", "export_type": "csv", "column_name": "name", "path": "x"}


def admin_mount(app: FastAPI) -> Mount:
    for route in app.routes:
        if isinstance(route, Mount) and route.path == "/admin":
            return route
    raise AssertionError("/admin is not mounted")


def admin_requests(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) for every route of the panel, with every view's identity filled in:
    a route added later is covered without touching this test."""
    mount = admin_mount(app)
    panel: Admin = app.state.admin.panel()
    identities = sorted(view.identity for view in panel.views if isinstance(view, ModelView))
    assert {"user", "style", "image", "transaction", "credit-ledger-entry"} <= set(identities)
    for route in mount.routes:
        if not isinstance(route, Route) or route.path in {"/login", "/logout"}:
            continue
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            names = re.findall(r"{(\w+)(?::\w+)?}", route.path)
            fill = identities if "identity" in names else [""]
            for identity in fill:
                path = route.path
                for name in names:
                    value = identity if name == "identity" else SAMPLE[name]
                    path = re.sub(r"{" + name + r"(?::\w+)?}", value, path)
                yield method, "/admin" + path


async def _hash(resources: Resources, password: str) -> str:
    return await resources.passwords.hash(password)


@pytest.fixture
async def normal_user(session: AsyncSession, resources: Resources) -> User:
    return await create_user(
        session, email="shopper@example.com", hashed_password=await _hash(resources, PASSWORD)
    )


async def test_bfla01_every_admin_route_sends_anonymous_and_normal_users_to_login(
    app: FastAPI, client: httpx.AsyncClient, normal_user: User
) -> None:
    requests = list(admin_requests(app))
    assert len(requests) > 40
    # A normal user's own password does not open the panel...
    refused = await sign_in(client, normal_user.email, PASSWORD)
    assert refused.status_code == 400
    assert "Invalid credentials" in refused.text
    # ...and neither does an API session: the panel knows only its own cookie.
    api_login = await client.post(
        "/api/v1/auth/login", json={"email": normal_user.email, "password": PASSWORD}
    )
    assert api_login.status_code == 200, api_login.text
    anonymous = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with anonymous:
        for who in (anonymous, client):
            token = await login_token(who)
            for method, path in requests:
                response = await who.request(
                    method,
                    path,
                    data={"csrf_token": token} if method == "POST" else None,
                    headers={"X-CSRF-Token": token} if method == "DELETE" else None,
                )
                assert is_login_redirect(response), (method, path, response.status_code)
                assert "<table" not in response.text


async def test_the_panel_address_without_slash_leads_to_the_login(
    client: httpx.AsyncClient,
) -> None:
    bare = await client.get("/admin")
    assert (bare.status_code, bare.headers["location"]) == (307, "/admin/")
    assert is_login_redirect(await client.get("/admin/"))


async def test_cfg02_statics_are_the_only_open_files(client: httpx.AsyncClient) -> None:
    css = await client.get("/admin/statics/css/main.css")
    assert css.status_code == 200
    script = await client.get("/admin/statics/hairtryon/admin.js")
    assert script.status_code == 200
    assert "X-CSRF-Token" in script.text


async def test_cfg02_bootstrap_admin_signs_in_with_a_short_strict_httponly_cookie(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await sign_in(
        client, settings.ADMIN_USERNAME, settings.ADMIN_PASSWORD.get_secret_value()
    )
    assert response.status_code == 302
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith(SESSION_COOKIE + "=")
    ).lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/admin" in cookie
    assert f"max-age={settings.ADMIN_SESSION_MINUTES * 60}" in cookie
    assert "secure" not in cookie  # the test server runs on a loopback name
    dashboard = await client.get("/admin/dashboard")
    assert dashboard.status_code == 200
    assert "<svg" in dashboard.text


async def test_cfg02_cookie_is_secure_outside_localhost(
    settings: Settings, resources: Resources
) -> None:
    assert not session_cookie_is_secure(settings)
    public_app = settings.model_copy(update={"PUBLIC_BASE_URL": "https://shop.example.com"})
    app = create_app(public_app, resources=build_test_resources(public_app, resources.database))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://shop.example.com") as client,
    ):
        page = await client.get("/admin/login")
    cookie = page.headers["set-cookie"].lower()
    assert cookie.startswith(SESSION_COOKIE + "=")
    assert "; secure" in cookie
    public = settings.model_copy(update={"PUBLIC_BASE_URL": "https://shop.example.com"})
    assert session_cookie_is_secure(public)
    plain = settings.model_copy(update={"PUBLIC_BASE_URL": "http://shop.example.com"})
    assert session_cookie_is_secure(plain)


async def test_cfg02_wrong_bootstrap_password_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await sign_in(client, settings.ADMIN_USERNAME, "not the password")
    assert response.status_code == 400
    assert is_login_redirect(await client.get("/admin/dashboard"))


async def test_cfg02_users_with_the_admin_role_sign_in_and_lose_access_when_demoted(
    client: httpx.AsyncClient, session: AsyncSession, resources: Resources
) -> None:
    admin = await create_user(
        session,
        email="operator@example.com",
        role=UserRole.ADMIN,
        hashed_password=await _hash(resources, PASSWORD),
    )
    await session.commit()
    assert (await sign_in(client, "Operator@example.com", PASSWORD)).status_code == 302
    assert (await client.get("/admin/user/list")).status_code == 200
    admin.role = UserRole.USER
    await session.commit()
    assert is_login_redirect(await client.get("/admin/user/list"))


async def test_cfg02_session_ends_after_its_lifetime(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The lifetime is in the signed session itself: a cookie whose login is older than
    ADMIN_SESSION_MINUTES opens nothing, even if the browser kept it."""
    await sign_in_bootstrap(client, settings)
    assert (await client.get("/admin/user/list")).status_code == 200
    import base64
    import hashlib
    import hmac
    import json

    key = hmac.new(
        settings.SECRET_KEY.get_secret_value().encode(), b"admin-session", hashlib.sha256
    ).hexdigest()
    expired = {
        "admin": {"name": settings.ADMIN_USERNAME, "user_id": None, "expires": time.time() - 1}
    }
    data = base64.b64encode(json.dumps(expired).encode())
    client.cookies.set(SESSION_COOKIE, TimestampSigner(key).sign(data).decode(), path="/admin")
    assert is_login_redirect(await client.get("/admin/user/list"))


async def test_cfg02_admin_posts_without_the_csrf_token_are_refused(
    client: httpx.AsyncClient, settings: Settings, session: AsyncSession
) -> None:
    user = await create_user(session, credits=1)
    await session.commit()
    token = await sign_in_bootstrap(client, settings)
    form = {"pks": str(user.id), "amount": "5", "reason": "goodwill"}
    missing = await client.post("/admin/user/credits", data=form)
    wrong = await client.post("/admin/user/credits", data={**form, "csrf_token": "x" * 43})
    assert missing.status_code == wrong.status_code == 403
    await session.refresh(user)
    assert user.credits == 1
    ok = await client.post("/admin/user/credits", data={**form, "csrf_token": token})
    assert ok.status_code == 200, ok.text
    await session.refresh(user)
    assert user.credits == 6


async def test_cfg02_login_without_the_csrf_token_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.post(
        "/admin/login",
        data={
            "username": settings.ADMIN_USERNAME,
            "password": settings.ADMIN_PASSWORD.get_secret_value(),
        },
    )
    assert response.status_code == 403
    assert is_login_redirect(await client.get("/admin/dashboard"))


async def test_cfg02_admin_pages_carry_csp_and_no_framing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await sign_in_bootstrap(client, settings)
    page = await client.get("/admin/dashboard")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # no inline script: the CSP would block it


@pytest.fixture
async def throttled_client(
    settings: Settings, resources: Resources
) -> AsyncIterator[httpx.AsyncClient]:
    limited = settings.model_copy(
        update={"RATE_LIMIT_ENABLED": True, "TRUSTED_PROXIES": "127.0.0.1"}
    )
    built = build_test_resources(limited, resources.database)
    app = create_app(limited, resources=built)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client


async def test_cfg02_admin_login_is_throttled_per_ip(
    throttled_client: httpx.AsyncClient, settings: Settings
) -> None:
    ip = {"X-Forwarded-For": "203.0.113.7"}
    for attempt in range(5):
        wrong = await sign_in(throttled_client, f"guess{attempt}", "nope", **ip)
        assert wrong.status_code == 400
    right = await sign_in(
        throttled_client, settings.ADMIN_USERNAME, settings.ADMIN_PASSWORD.get_secret_value(), **ip
    )
    assert right.status_code == 429
    assert "Too many sign-in attempts" in right.text
    assert is_login_redirect(await throttled_client.get("/admin/dashboard"))


async def test_cfg02_admin_login_is_throttled_per_username(
    throttled_client: httpx.AsyncClient, settings: Settings
) -> None:
    """Wrong passwords for one username from many addresses lock that username for a
    while; another address with the right password is refused too."""
    for attempt in range(5):
        wrong = await sign_in(
            throttled_client,
            settings.ADMIN_USERNAME,
            "nope",
            **{"X-Forwarded-For": f"198.51.100.{attempt + 1}"},
        )
        assert wrong.status_code == 400
    right = await sign_in(
        throttled_client,
        settings.ADMIN_USERNAME,
        settings.ADMIN_PASSWORD.get_secret_value(),
        **{"X-Forwarded-For": "198.51.100.99"},
    )
    assert right.status_code == 429
    assert await page_token_or_none(throttled_client) is None


async def page_token_or_none(client: httpx.AsyncClient) -> str | None:
    response = await client.get("/admin/user/list")
    return None if is_login_redirect(response) else await page_token(client)


def test_cfg02_a_malformed_admin_login_limit_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="ADMIN_LOGIN_RATE_LIMIT"):
        Settings(_env_file=None, ADMIN_LOGIN_RATE_LIMIT="lots")
