"""Which "site" (scheme-less registrable domain) a host belongs to, for cookie scope.

Browsers send `SameSite=Lax` cookies only to the site the page is on and partition or block
cookies of other sites, so the API and the web app must agree on it (SPEC §8).
"""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def site_of(host: str) -> str:
    """A rough registrable domain: the last two labels (exact for loopback and IPs)."""
    host = host.lower().rstrip(".")
    if host in LOOPBACK_NAMES:
        return "loopback"
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return ".".join(host.split(".")[-2:])
