"""One log line per request: method, path (never the query string), status, duration."""

from __future__ import annotations

import logging
import time

from starlette.types import Scope

logger = logging.getLogger("hairtryon.access")


def access_log_enabled() -> bool:
    """Off (LOG_LEVEL above INFO): no timing and no line per request."""
    return logger.isEnabledFor(logging.INFO)


def log_access(scope: Scope, status: int, started: float) -> None:
    """The line for one request (written by app/core/edge.py once it is answered)."""
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.info(
        "%s %s %d %.1fms",
        scope["method"],
        scope["path"],
        status,
        elapsed_ms,
        extra={"status": status, "duration_ms": round(elapsed_ms, 1)},
    )
