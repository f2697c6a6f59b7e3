"""CSRF for cookie-authenticated unsafe requests: the Origin (or Referer) must be one of ours.

Bearer-authenticated requests need no check: a browser never attaches that header by itself.
The endpoints that sign in and set the session cookies get the browser variant (login CSRF).
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
    try:
        parts = urlsplit(url)
    except ValueError:  # a Referer no browser sends (an unclosed IPv6 bracket): no origin
        return None
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


def enforce_same_origin_for_browsers(request: Request, settings: Settings) -> None:
    """Login CSRF: a cross-site page must not sign the visitor's browser into an account it
    chose (the attacker's), which would then collect what the victim uploads and buys.

    Browsers say where a POST comes from (`Origin`, always on cross-site POSTs in current
    browsers, "null" from sandboxed or privacy-stripped contexts; `Referer`; `Sec-Fetch-Site`),
    so when any of these is present it must name one of our origins. A client that sends none
    of them is not a browser (a script, a server, the test client): nobody can make it send a
    request against its will, so it keeps working and gets its tokens."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise CsrfFailed()
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    if origin is None and referer is None:
        return
    enforce_same_origin(request, settings)
