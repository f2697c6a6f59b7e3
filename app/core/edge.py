"""What every HTTP request gets at the edge, in one pure-ASGI layer: the request id (header,
log context), the security headers, the access log line and the metrics.

One layer, one wrapped `send`, instead of four: on the hottest path (the status poll, issue 14)
each middleware wrapping `send` cost a closure, a call and an await per message. The order of
the four former layers is kept: metrics see the request from outermost (after the request id is
gone), the access line is written inside the request's log scope, and a header a route set
itself wins over the security headers (`/admin`'s Content-Security-Policy); the request id is
set last and always.

Each part's rules live in its own module (request_id, security_headers, access_log, metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.access_log import access_log_enabled, log_access
from app.core.log_context import log_scope
from app.core.request_id import (
    REQUEST_ID_HEADER,
    bind_request_id,
    request_id_of,
    unbind_request_id,
)
from app.core.security_headers import IpNetwork, SecurityHeaders


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_proxies: tuple[IpNetwork, ...] = (),
        metrics: bool,
        secret_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.security = SecurityHeaders(trusted_proxies=trusted_proxies)
        # prometheus_client only with METRICS_ENABLED: a process without /metrics never loads it.
        self._record: Callable[[Scope, int, float], None] | None = None
        if metrics:
            from app.core.metrics import record_request

            self._record = record_request
        # Paths whose next segment is a credential (a share link's token): logged as `***`.
        self.secret_prefixes = secret_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        https, admin = self.security.for_request(scope)
        apply = self.security.apply

        async def send_at_the_edge(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                apply(headers, https=https, admin=admin)
                headers[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            token = bind_request_id(request_id)
            try:
                with log_scope():
                    try:
                        await self.app(scope, receive, send_at_the_edge)
                    finally:
                        if access_log_enabled():
                            log_access(scope, status, started, self.secret_prefixes)
            finally:
                unbind_request_id(token)
        finally:
            if self._record is not None:
                self._record(scope, status, started)
