"""Request bodies are bounded (IN-03): a body larger than its route's cap is answered 413 with
the error shape of SPEC §0 before more than the cap is read.

Pure ASGI: the declared Content-Length is checked first, then the streamed chunks are counted
while the body is buffered (at most the cap, 64 KiB by default) and replayed to the app. Reading
the whole body here also means no route starts its database work before its body is in.

Routes that stream larger bodies under their own cap (the multipart image uploads) are marked
with `reads_own_body`; the payment webhooks with `webhook_body` get their own, larger cap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import error_response

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "_hairtryon_body_limit"
OWN_CAP = "own"
WEBHOOK_CAP = "webhook"


def reads_own_body(endpoint: F) -> F:
    """The route reads its body under its own cap (multipart uploads): not buffered here."""
    setattr(endpoint, _MARK, OWN_CAP)
    return endpoint


def webhook_body(endpoint: F) -> F:
    setattr(endpoint, _MARK, WEBHOOK_CAP)
    return endpoint


def route_caps(routes: Iterable[Any], *, webhook_cap: int) -> dict[str, int | None]:
    """Exact paths whose cap differs from the default: None = the route caps its own body.
    `routes` are FastAPI's route contexts (`fastapi.routing.iter_route_contexts`)."""
    caps: dict[str, int | None] = {}
    for route in routes:
        mark = getattr(getattr(route, "endpoint", None), _MARK, None)
        path = getattr(route, "path", None)
        if mark is not None and isinstance(path, str):
            caps[path] = None if mark == OWN_CAP else webhook_cap
    return caps


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, default_cap: int, caps: Mapping[str, int | None]) -> None:
        self.app = app
        self.default_cap = default_cap
        self.caps = dict(caps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.caps.get(scope["path"], self.default_cap)
        if cap is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _too_large(scope, receive, send, cap)
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            body = message.get("body", b"")
            received += len(body)
            if received > cap:
                await _too_large(scope, receive, send, cap)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            # Later reads wait for the disconnect, as they would on the real channel.
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _too_large(scope: Scope, receive: Receive, send: Send, cap: int) -> None:
    response = error_response(
        413, "PAYLOAD_TOO_LARGE", f"The request body is larger than the {cap}-byte limit."
    )
    await response(scope, receive, send)
