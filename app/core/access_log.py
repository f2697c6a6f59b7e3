"""One log line per request: method, path (never the query string), status, duration.

Some paths carry a credential in a segment (a share link's `/s/{token}`: whoever holds the
token sees the page). The segment after each of `secret_prefixes` is logged as `***`, so the
logs (often shipped to a third party) never open what the token opens.
"""

from __future__ import annotations

import logging
import time

from starlette.types import Scope

logger = logging.getLogger("hairtryon.access")


REDACTED = "***"


def loggable_path(path: str, secret_prefixes: tuple[str, ...]) -> str:
    """`path` with the segment right after a secret prefix replaced by `***`."""
    for prefix in secret_prefixes:
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            _, slash, tail = rest.partition("/")
            return f"{prefix}{REDACTED}{slash}{tail}"
    return path


def access_log_enabled() -> bool:
    """Off (LOG_LEVEL above INFO): no timing and no line per request."""
    return logger.isEnabledFor(logging.INFO)


def log_access(
    scope: Scope, status: int, started: float, secret_prefixes: tuple[str, ...] = ()
) -> None:
    """The line for one request (written by app/core/edge.py once it is answered)."""
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.info(
        "%s %s %d %.1fms",
        scope["method"],
        loggable_path(scope["path"], secret_prefixes),
        status,
        elapsed_ms,
        extra={"status": status, "duration_ms": round(elapsed_ms, 1)},
    )
