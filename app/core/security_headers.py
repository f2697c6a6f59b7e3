"""Security headers on every response (added by app/core/edge.py: streaming bodies and errors
included).

A header a route already set wins: `/admin` sends its own Content-Security-Policy, and the
API's frame policy must not overwrite it.
"""

from __future__ import annotations

import ipaddress

from starlette.datastructures import MutableHeaders
from starlette.types import Scope

# Not imported from rate_limit: that module imports the error handlers, which import this one.
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Two years, the preload list's minimum; only ever sent over https (RFC 6797 §7.2).
HSTS_VALUE = "max-age=63072000; includeSubDomains"
# The API's pages (docs, the local checkout) are never meant to be framed: no clickjacking.
FRAME_POLICY = "frame-ancestors 'none'"
ADMIN_PREFIX = "/admin"


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


_ALWAYS = (
    ("X-Content-Type-Options", "nosniff"),
    # API URLs can carry ids and tokens in their query (verify links): never pass them on.
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)


def baseline_headers(path: str) -> dict[str, str]:
    """The headers for a response built outside this middleware (the 500 handler runs in
    Starlette's outermost layer)."""
    headers = dict(_ALWAYS)
    if not is_admin_path(path):
        headers["Content-Security-Policy"] = FRAME_POLICY
    return headers


class SecurityHeaders:
    """What the edge middleware (app/core/edge.py) adds to every response start."""

    def __init__(self, *, trusted_proxies: tuple[IpNetwork, ...] = ()) -> None:
        self.trusted_proxies = trusted_proxies

    def for_request(self, scope: Scope) -> tuple[bool, bool]:
        """(https, admin) for `apply`, decided once per request."""
        return self._is_https(scope), is_admin_path(str(scope.get("path", "")))

    @staticmethod
    def apply(headers: MutableHeaders, *, https: bool, admin: bool) -> None:
        for name, value in _ALWAYS:
            headers.setdefault(name, value)
        if https:
            headers.setdefault("Strict-Transport-Security", HSTS_VALUE)
        # /admin's policy is its own (set by its routes); elsewhere add the frame policy unless
        # the route sent a CSP of its own.
        if not admin and "content-security-policy" not in headers:
            headers["Content-Security-Policy"] = FRAME_POLICY

    def _is_https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        client = scope.get("client")
        if not client or not self.trusted_proxies or not _in(client[0], self.trusted_proxies):
            return False
        for key, value in scope.get("headers", []):
            if key == b"x-forwarded-proto":
                # The nearest proxy appends last; it is the one we trust.
                return bool(value.decode("latin-1").split(",")[-1].strip().lower() == "https")
        return False


def _in(address: str, networks: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
