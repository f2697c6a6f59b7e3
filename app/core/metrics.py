"""Request counts and latencies for /metrics, recorded by the edge middleware (app/core/edge.py).

Labelled by the route's template (`/api/v1/image/{image_id}`), never the raw path: one series
per route, not per id. Per process; what the database knows (jobs, credits, webhooks) is read
at scrape time instead, so every process reports the same totals.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import Mount
from starlette.types import Scope

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "hairtryon_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
    registry=REGISTRY,
)
LATENCY = Histogram(
    "hairtryon_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ("method", "route"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    """The matched route's template with the prefixes of the routers it was included through
    (the route knows only its own part: `/image/status/{image_id}` under `/api/v1`)."""
    route = scope.get("route")
    relative = getattr(route, "path", None)
    path = str(scope.get("path", ""))
    if not isinstance(relative, str) or not relative:
        return UNMATCHED
    if isinstance(route, Mount):
        return f"{relative}/{{path}}"
    if ":path}" in relative:
        # A converter that spans segments: the literal head locates the prefix.
        head = relative[: relative.index("{")]
        at = path.find(head)
        return path[:at] + relative if at >= 0 else relative
    # Each segment of the template matches one segment of the path: the rest is the prefix.
    segments = path.split("/")
    return "/".join(segments[: len(segments) - relative.count("/")]) + relative


def record_request(scope: Scope, status: int, started: float) -> None:
    """Count one answered request and its latency (app/core/edge.py, once it is answered)."""
    route = route_template(scope)
    method = str(scope.get("method", ""))
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(time.perf_counter() - started)
