"""The real server process (run.py + uvicorn) answers as the ASGI app does."""

from __future__ import annotations

import httpx
import pytest

from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e


async def test_real_server_serves_health_docs_and_request_ids(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.base_url) as client:
        health = await client.get("/health")
        ready = await client.get("/ready")
        docs = await client.get("/docs")
        missing = await client.get("/api/v1/nothing-here", headers={"X-Request-ID": "e2e-1"})
    assert health.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    assert docs.status_code == 200
    assert missing.status_code == 404
    assert missing.json()["detail"]["code"] == "NOT_FOUND"
    assert missing.headers["X-Request-ID"] == "e2e-1"


async def test_real_server_logs_no_query_strings(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.base_url) as client:
        await client.get("/health?token=e2e-secret-value")
    assert "GET /health 200" in live_server.log()
    assert "e2e-secret-value" not in live_server.log()
