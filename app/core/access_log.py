"""One log line per request: method, path (never the query string), status, duration.

Some paths carry a credential in a segment (a share link's `/s/{token}`: whoever holds the
token sees the page). The segment after each of `secret_prefixes` is logged as `***`, so the
logs (often shipped to a third party) never open what the token opens.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, *, secret_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.secret_prefixes = secret_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.INFO):
            # Off (LOG_LEVEL above INFO): no timing and no wrapped send per request.
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.info(
                "%s %s %d %.1fms",
                scope["method"],
                loggable_path(scope["path"], self.secret_prefixes),
                status,
                elapsed_ms,
                extra={"status": status, "duration_ms": round(elapsed_ms, 1)},
            )
