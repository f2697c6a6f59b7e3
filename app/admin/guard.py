"""Every /admin request passes here, inside the admin's session middleware (pure ASGI, so
streaming bodies and the session dict are left as they are):

- CSRF: the session carries a random token; every unsafe request (POST, DELETE, ...) must send
  it back, in the `csrf_token` form field (the templates add it to every form) or the
  `X-CSRF-Token` header (the panel's own scripts). sqladmin's WTForms forms have no CSRF of
  their own. The session cookie is also SameSite=Strict, so this is the second lock.
- Headers: a CSP that allows only our own scripts (no CDN, no inline script), no framing,
  no caching of pages that show customers' data.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_SESSION_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's token, made on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def renew_csrf_token(session: MutableMapping[str, Any]) -> str:
    session[CSRF_SESSION_KEY] = secrets.token_urlsafe(32)
    return str(session[CSRF_SESSION_KEY])


def content_security_policy(image_origins: tuple[str, ...]) -> str:
    images = " ".join(("'self'", "data:", *image_origins))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            # tabler and select2 set style attributes; styles cannot run code.
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        )
    )


class AdminGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, image_origins: tuple[str, ...]):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.csp = content_security_policy(image_origins).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(scope, send)
        expected = csrf_token(scope["session"])
        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        supplied = _header(scope, CSRF_HEADER)
        body: bytes | None = None
        if supplied is None:
            body = await self._read_body(receive)
            if body is None:
                await PlainTextResponse("The form is too large.", 413)(scope, receive, send)
                return
            supplied = await _form_token(scope, body)
        if supplied is None or not hmac.compare_digest(supplied.encode(), expected.encode()):
            response = PlainTextResponse(
                "The form has expired or did not come from this site: reload the page and "
                "try again.",
                403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive) if body is not None else receive, send)

    def _with_headers(self, scope: Scope, send: Send) -> Send:
        static = "/statics/" in scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", self.csp),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_headers

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body (forms are small; a thumbnail is capped like any image), or None
        past the cap."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return None


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = _header(scope, "content-type") or ""
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    request = Request(scope, _replay(body, None))
    try:
        form: FormData = await request.form()
    except Exception:
        # A malformed body carries no token; the request is refused below either way.
        return None
    try:
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    finally:
        await form.close()


def _replay(body: bytes, receive: Receive | None) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if receive is None:
            return {"type": "http.disconnect"}
        return await receive()

    return replay
