"""Run a middleware only for requests under one path prefix (pure ASGI).

Starlette's `SessionMiddleware` parses the Cookie header and wraps `send` on every request,
although only the Google sign-in routes use its cookie; under this wrapper every other request
(the status poll above all) goes straight to the app.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send


class PathScopedMiddleware:
    def __init__(self, app: ASGIApp, *, prefix: str, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        """`wrap(app)` builds the scoped middleware around the same inner app."""
        self.app = app
        self.prefix = prefix.rstrip("/")
        self.scoped = wrap(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] in ("http", "websocket") and (
            path == self.prefix or path.startswith(self.prefix + "/")
        ):
            await self.scoped(scope, receive, send)
        else:
            await self.app(scope, receive, send)
