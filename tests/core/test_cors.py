"""CORS per SPEC §8: the web app's origin with credentials, loopback ports in development."""

from __future__ import annotations

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.resources import Resources
from tests.conftest import build_test_resources


async def _preflight(client: httpx.AsyncClient, origin: str) -> httpx.Response:
    return await client.options(
        "/health",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )


async def test_frontend_origin_is_allowed_with_credentials(client: httpx.AsyncClient) -> None:
    response = await _preflight(client, "http://localhost:5173")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert response.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:4173"])
async def test_any_loopback_port_is_allowed_in_development(
    client: httpx.AsyncClient, origin: str
) -> None:
    response = await _preflight(client, origin)
    assert response.headers.get("access-control-allow-origin") == origin


async def test_foreign_origin_is_not_allowed(client: httpx.AsyncClient) -> None:
    response = await _preflight(client, "https://evil.example")
    assert "access-control-allow-origin" not in response.headers


async def test_production_allows_only_the_frontend_url(
    settings: Settings, resources: Resources
) -> None:
    prod = Settings.model_construct(
        **{**settings.model_dump(), "ENV": "prod", "FRONTEND_URL": "https://app.example"}
    )
    app = create_app(prod, resources=build_test_resources(prod, resources.database))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await _preflight(client, "https://app.example")
        loopback = await _preflight(client, "http://localhost:5173")
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in loopback.headers
