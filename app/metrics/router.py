"""GET /metrics: Prometheus text format, for a scraper holding METRICS_TOKEN.

Mounted only with METRICS_ENABLED=true (production refuses that without a token of at least
32 characters). Request counts and latencies are this process's; jobs, queue depth, generation
times, credits and webhook outcomes come from the database, the same from every process.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from app.api.deps import SessionDep, SettingsDep
from app.core.errors import NotAuthenticated
from app.core.metrics import REGISTRY
from app.metrics.repository import MetricsRepository, MetricsSnapshot

router = APIRouter(tags=["metrics"])


def require_metrics_token(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    if settings.METRICS_TOKEN is None:
        return  # development only: production refuses METRICS_ENABLED without a token
    expected = f"Bearer {settings.METRICS_TOKEN.get_secret_value()}".encode()
    if not hmac.compare_digest((authorization or "").encode(), expected):
        raise NotAuthenticated("A valid metrics token is required.")


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        yield _gauge("hairtryon_jobs", "Generations by state.", "state", s.jobs_by_state)
        yield _gauge("hairtryon_view_jobs", "Side-view jobs by state.", "state", s.views_by_state)
        depth = GaugeMetricFamily(
            "hairtryon_job_queue_depth", "Jobs waiting for a worker.", labels=["job"]
        )
        depth.add_metric(["generate_image"], s.jobs_by_state.get("pending", 0))
        depth.add_metric(["generate_views"], s.views_by_state.get("pending", 0))
        yield depth
        yield _gauge(
            "hairtryon_generation_failures",
            "Failed generations by failure code.",
            "code",
            s.failures_by_code,
        )
        latency = HistogramMetricFamily(
            "hairtryon_generation_duration_seconds",
            "Generator time of completed generations.",
        )
        buckets = [(str(bound), n) for bound, n in s.generation_buckets]
        latency.add_metric([], [*buckets, ("+Inf", s.generation_count)], s.generation_seconds)
        yield latency
        yield _counter(
            "hairtryon_credits_granted",
            "Credits granted, by reason.",
            "reason",
            s.credits_granted,
        )
        yield _counter(
            "hairtryon_credits_spent", "Credits spent, by reason.", "reason", s.credits_spent
        )
        yield _counter(
            "hairtryon_webhook_events",
            "Payment webhook deliveries stored, by outcome.",
            "outcome",
            s.webhooks_by_outcome,
        )


def _gauge(name: str, doc: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in _sorted(values):
        family.add_metric([key], value)
    return family


def _counter(name: str, doc: str, label: str, values: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in _sorted(values):
        family.add_metric([key], value)
    return family


def _sorted(values: dict[str, int]) -> Iterable[tuple[str, int]]:
    return sorted(values.items())


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Prometheus text format. Needs `Authorization: Bearer <METRICS_TOKEN>`.",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "The metrics"},
        401: {"description": "Missing or wrong metrics token"},
    },
    dependencies=[Depends(require_metrics_token)],
)
async def metrics(session: SessionDep) -> Response:
    snapshot = await MetricsRepository(session).snapshot()
    database = CollectorRegistry(auto_describe=True)
    database.register(_SnapshotCollector(snapshot))
    body = generate_latest(REGISTRY) + generate_latest(database)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
