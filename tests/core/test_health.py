from __future__ import annotations

import httpx

from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.resources import Resources
from tests.conftest import build_test_resources


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["generator"] == {"backend": "local"}


async def test_ready_is_503_when_the_database_is_unreachable() -> None:
    # Port 1 on loopback refuses connections at once.
    settings = Settings(_env_file=None, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    database = Database.from_url(settings.DATABASE_URL, connect_args={"timeout": 2})
    app = create_app(settings, resources=build_test_resources(settings, database))
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            response = await client.get("/ready")
    finally:
        await database.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["database"] == "unreachable"


async def test_docs_are_served_in_development(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert schema["info"]["title"] == "HairTryOn API"


async def test_docs_can_be_switched_off(settings: Settings, resources: Resources) -> None:
    quiet = settings.model_copy(update={"DOCS_ENABLED": False})
    app = create_app(quiet, resources=build_test_resources(quiet, resources.database))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await client.get(path)).status_code == 404


async def test_ready_checks_the_job_broker_when_there_is_one(
    settings: Settings, resources: Resources, redis_url: str
) -> None:
    for url, expected in (
        (redis_url, "ok"),
        ("redis://127.0.0.1:1/0", "unreachable"),
    ):
        configured = settings.model_copy(update={"JOB_BROKER_URL": url})
        app = create_app(configured, resources=build_test_resources(configured, resources.database))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            response = await client.get("/ready")
        assert response.json()["checks"]["queue"] == expected
        assert response.status_code == (200 if expected == "ok" else 503)
