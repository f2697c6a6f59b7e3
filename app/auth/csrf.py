"""CSRF for cookie-authenticated unsafe requests: the Origin (or Referer) must be one of ours.

Bearer-authenticated requests need no check: a browser never attaches that header by itself.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.requests import Request

from app.auth.exceptions import CsrfFailed
from app.core.config import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEV_LOOPBACK = re.compile(r"^http://(localhost|127\.0\.0\.1)(:\d+)?$")


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def is_allowed_origin(origin: str, settings: Settings) -> bool:
    if origin in {settings.frontend_origin, settings.public_base_url}:
        return True
    return not settings.is_production and bool(_DEV_LOOPBACK.match(origin))


def enforce_same_origin(request: Request, settings: Settings) -> None:
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if not origin:
        referer = request.headers.get("referer")
        origin = _origin_of(referer) if referer else None
    if not origin or not is_allowed_origin(origin, settings):
        raise CsrfFailed()
