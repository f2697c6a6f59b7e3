"""GET /metrics: off unless METRICS_ENABLED, behind METRICS_TOKEN, Prometheus format; requests
by route template, and jobs, queue depth, generation times, credits and webhook outcomes as
the database knows them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.main import create_app
from app.models.payment import WebhookEvent
from app.resources import Resources
from tests.auth.flows import FRONTEND, Mail, signed_up_and_verified
from tests.conftest import build_test_resources
from tests.generation.steps import first_style_id, generate, run_jobs, upload

TOKEN = "m" * 40
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def metered(
    settings: Settings, resources: Resources
) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    configured = settings.model_copy(
        update={"METRICS_ENABLED": True, "METRICS_TOKEN": SecretStr(TOKEN)}
    )
    built = build_test_resources(configured, resources.database)
    app = create_app(configured, resources=built)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND}
        ) as client,
    ):
        yield client, built


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_are_off_by_default(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ],
)
async def test_metrics_need_the_bearer_token(
    metered: tuple[httpx.AsyncClient, Resources], headers: dict[str, str]
) -> None:
    client, _ = metered
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"]["code"] == "NOT_AUTHENTICATED"
    assert "hairtryon_" not in response.text


async def test_metrics_report_requests_jobs_generation_time_and_credits(
    metered: tuple[httpx.AsyncClient, Resources], mail: Mail
) -> None:
    client, resources = metered
    before = _samples((await client.get("/metrics", headers=AUTH)).text)
    await signed_up_and_verified(client, Mail(mail.directory, resources.database.background))
    selfie = await upload(client)
    started = await generate(client, selfie["file_url"], await first_style_id(client))
    image_id = started.json()["image_id"]
    queued = _samples((await client.get("/metrics", headers=AUTH)).text)
    assert await run_jobs(resources) == 1
    for _ in range(2):
        assert (await client.get(f"/api/v1/image/status/{image_id}")).status_code == 200

    response = await client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    status_route = {"method": "GET", "route": "/api/v1/image/status/{image_id}", "status": "200"}
    requests = "hairtryon_http_requests_total"
    assert _value(after, requests, **status_route) - _value(before, requests, **status_route) == 2
    # One series per route template, none per id.
    routes = {dict(labels).get("route", "") for _, labels in after}
    assert not [route for route in routes if route.endswith(f"/{image_id}")], routes

    # The job and credit figures are read from the database, which other tests' committed
    # rows share: compare with the scrape before this test's work.
    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    queue = "hairtryon_job_queue_depth"
    assert (
        _value(queued, queue, job="generate_image") - _value(before, queue, job="generate_image")
        == 1
    )
    assert grew(queue, job="generate_image") == 0
    assert grew("hairtryon_jobs", state="completed") == 1
    assert grew("hairtryon_generation_duration_seconds_count") == 1
    assert grew("hairtryon_generation_duration_seconds_bucket", le="+Inf") == 1
    assert grew("hairtryon_credits_granted_total", reason="signup_bonus") == 3
    assert grew("hairtryon_credits_spent_total", reason="generation") == 1
    latency = "hairtryon_http_request_duration_seconds_count"
    assert _value(after, latency, method="GET", route="/api/v1/image/status/{image_id}") >= 2


async def test_metrics_count_webhook_deliveries_by_outcome(
    metered: tuple[httpx.AsyncClient, Resources], session: AsyncSession
) -> None:
    client, _ = metered
    # Read from the database, which other tests' committed deliveries share: count the growth.
    before = _samples((await client.get("/metrics", headers=AUTH)).text)
    session.add_all(
        [
            WebhookEvent(
                webhook_id="wh_a", event_type="payment.succeeded", payload="{}", outcome="granted"
            ),
            WebhookEvent(
                webhook_id="wh_b", event_type="payment.succeeded", payload="{}", outcome="granted"
            ),
            WebhookEvent(
                webhook_id="wh_c", event_type="payment.failed", payload="{}", outcome=None
            ),
        ]
    )
    await session.commit()
    samples = _samples((await client.get("/metrics", headers=AUTH)).text)
    events = "hairtryon_webhook_events_total"
    granted = _value(samples, events, outcome="granted") - _value(before, events, outcome="granted")
    pending = _value(samples, events, outcome="pending") - _value(before, events, outcome="pending")
    assert (granted, pending) == (2, 1)
