"""Liveness and readiness probes, outside /api/v1."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.api.deps import ResourcesDep

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class HealthRead(BaseModel):
    status: str


class ReadinessRead(BaseModel):
    status: str
    checks: dict[str, str]
    # How generations run: backend (local|replicate), and for Replicate the model, size and
    # completion (polling, or webhook+polling). Configuration only; no secret.
    generator: dict[str, str] = {}


async def _queue_check(broker_url: str | None) -> str:
    if not broker_url:
        return "ok"  # jobs run inside this process
    # Imported only with a broker: the embedded defaults never load redis (~20 MB). With one,
    # the broker has imported it at start-up (without the OpenTelemetry SDK, see
    # app/jobs/redis_stream.py), so this is a lookup in sys.modules.
    from redis import asyncio as redis

    client = redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception:
        logger.exception("readiness: job broker unreachable")
        return "unreachable"
    finally:
        await client.aclose()
    return "ok"


@router.get("/health", summary="The process is up")
async def health() -> HealthRead:
    return HealthRead(status="ok")


@router.get(
    "/ready",
    summary="The process can serve traffic",
    response_model=ReadinessRead,
    responses={503: {"model": ReadinessRead, "description": "A dependency is unreachable"}},
)
async def ready(resources: ResourcesDep) -> JSONResponse:
    """Checks each dependency the API needs to answer requests."""
    checks: dict[str, str] = {}
    try:
        await resources.database.ping()
        checks["database"] = "ok"
    except Exception:
        logger.exception("readiness: database unreachable")
        checks["database"] = "unreachable"
    try:
        await resources.storage.ping()
        checks["storage"] = "ok"
    except Exception:
        logger.exception("readiness: storage unreachable")
        checks["storage"] = "unreachable"
    checks["queue"] = await _queue_check(resources.settings.JOB_BROKER_URL)
    healthy = all(value == "ok" for value in checks.values())
    describe = getattr(resources.generator, "describe", None)
    generator = describe() if describe is not None else {"backend": "local"}
    body = ReadinessRead(
        status="ok" if healthy else "unavailable", checks=checks, generator=generator
    )
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)
