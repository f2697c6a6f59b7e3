"""Security headers on every response: no sniffing, no referrer, no framing; HSTS over https
only (directly or through a trusted proxy); a route's own Content-Security-Policy is kept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Response

from app.core.config import Settings
from app.core.security_headers import FRAME_POLICY
from app.main import create_app
from app.resources import Resources
from tests.conftest import build_test_resources

ADMIN_CSP = "default-src 'self'; frame-ancestors 'none'"


def _add_probe_routes(app: FastAPI) -> None:
    async def own_csp() -> Response:
        return Response("ok", headers={"Content-Security-Policy": "default-src 'self'"})

    async def admin_page() -> Response:
        return Response("<html></html>", media_type="text/html")

    async def admin_with_csp() -> Response:
        return Response("<html></html>", headers={"Content-Security-Policy": ADMIN_CSP})

    async def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/probe/own-csp", own_csp, methods=["GET"])
    app.add_api_route("/admin/probe", admin_page, methods=["GET"])
    app.add_api_route("/admin/probe-csp", admin_with_csp, methods=["GET"])
    app.add_api_route("/probe/explode", explode, methods=["GET"])


def _assert_baseline(response: httpx.Response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.fixture
async def proxied_client(
    settings: Settings, resources: Resources
) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a proxy at the test client's address (127.0.0.1)."""
    behind = settings.model_copy(update={"TRUSTED_PROXIES": "127.0.0.1/32"})
    app = create_app(behind, resources=build_test_resources(behind, resources.database))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


@pytest.mark.parametrize("path", ["/health", "/api/v1/styles", "/api/v1/nothing-here"])
async def test_every_api_response_refuses_sniffing_referrers_and_framing(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    _assert_baseline(response)
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert "Strict-Transport-Security" not in response.headers


async def test_unhandled_error_500_carries_the_security_headers(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _add_probe_routes(app)
    response = await client.get("/probe/explode")
    assert response.status_code == 500
    _assert_baseline(response)
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


async def test_hsts_only_over_https(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api") as client:
        response = await client.get("/health")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")


async def test_hsts_when_a_trusted_proxy_says_https(proxied_client: httpx.AsyncClient) -> None:
    https = await proxied_client.get("/health", headers={"X-Forwarded-Proto": "https"})
    http = await proxied_client.get("/health", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" in https.headers
    assert "Strict-Transport-Security" not in http.headers


async def test_forwarded_proto_from_an_untrusted_peer_is_ignored(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


async def test_a_routes_own_csp_is_kept(app: FastAPI, client: httpx.AsyncClient) -> None:
    _add_probe_routes(app)
    response = await client.get("/probe/own-csp")
    assert response.headers["Content-Security-Policy"] == "default-src 'self'"
    _assert_baseline(response)


async def test_admin_pages_keep_their_own_csp_and_get_no_api_policy(
    client: httpx.AsyncClient,
) -> None:
    """The back office (sqladmin, mounted at /admin) sets its own CSP: the API's frame policy
    must not replace it, while the baseline headers still apply."""
    page = await client.get("/admin/login")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "script-src" in policy or "default-src" in policy, policy
    assert policy != FRAME_POLICY
    # The admin chooses its own Referrer-Policy; the rest of the baseline still applies.
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
