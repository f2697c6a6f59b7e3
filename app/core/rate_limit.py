"""Rate limits on the `limits` library (the engine under slowapi), through its asyncio API.

slowapi's decorators call the synchronous storage API, which with Redis would block the event
loop on every request, and they key only on the request, while the per-account limits need the
account the request names; so we use `limits.aio` directly and keep slowapi's semantics:
keyed by user when authenticated, else by client IP, moving windows, 429 with Retry-After.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Iterable

from limits import parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.requests import Request

from app.core.errors import RateLimited
from app.core.optional_imports import OPENTELEMETRY_SDK, without

logger = logging.getLogger(__name__)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _storage(url: str | None) -> Storage:
    if not url:
        url = "async+memory://"
    elif url.startswith(("redis://", "rediss://")):
        url = f"async+{url}"
    options: dict[str, str] = {"implementation": "redispy"} if "redis" in url else {}
    # limits imports redis-py here, for a Redis URL: without the OpenTelemetry SDK redis-py
    # does not need (app/core/optional_imports.py).
    with without(OPENTELEMETRY_SDK):
        storage = storage_from_string(url, **options)
    if not isinstance(storage, Storage):
        raise ValueError(f"RATE_LIMIT_STORAGE_URL {url!r} is not an asyncio storage")
    return storage


class RateLimiter:
    def __init__(self, storage_url: str | None, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.storage = _storage(storage_url)
        self._limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, rule: str, *identity: str) -> None:
        """Count one hit against `rule` ("10/minute") for `identity`; raise RateLimited when
        over. A storage outage lets the request through (logged): locking every user out
        because Redis blinked is the worse failure."""
        if not self.enabled:
            return
        limit = parse(rule)
        try:
            allowed = await self._limiter.hit(limit, *identity)
            if allowed:
                return
            stats = await self._limiter.get_window_stats(limit, *identity)
        except Exception:
            logger.exception("rate limit storage unavailable; request allowed")
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(headers={"Retry-After": str(retry_after)})

    async def allows(self, rule: str, *identity: str) -> bool:
        """Whether one more hit would be within `rule`, without counting one. A storage outage
        answers yes, as `hit` does."""
        if not self.enabled:
            return True
        try:
            return bool(await self._limiter.test(parse(rule), *identity))
        except Exception:
            logger.exception("rate limit storage unavailable; request allowed")
            return True

    async def take(self, rule: str, *identity: str) -> bool:
        """Count one hit if the budget has room; False (nothing raised) when it has none, for
        callers that answer the same either way."""
        if not self.enabled:
            return True
        try:
            return bool(await self._limiter.hit(parse(rule), *identity))
        except Exception:
            logger.exception("rate limit storage unavailable; request allowed")
            return True

    async def refusal(self, rule: str, *identity: str, message: str | None = None) -> RateLimited:
        """The 429 for a budget that `allows` said is spent, with its Retry-After."""
        try:
            stats = await self._limiter.get_window_stats(parse(rule), *identity)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        except Exception:
            retry_after = 60
        return RateLimited(message, headers={"Retry-After": str(retry_after)})

    async def ping(self) -> bool:
        return bool(await self.storage.check())

    async def reset(self) -> None:
        await self.storage.reset()


def parse_networks(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    cleaned = (entry.strip() for entry in entries)
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in cleaned if entry)


def client_ip(request: Request, trusted_proxies: tuple[IpNetwork, ...]) -> str:
    """The peer address, or, when the peer is a trusted proxy, the nearest untrusted address
    in X-Forwarded-For (the last hops are ours; anything further left is client-supplied)."""
    peer = request.client.host if request.client else "unknown"
    if not trusted_proxies or not _is_trusted(peer, trusted_proxies):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted_proxies):
            return hop if _is_ip(hop) else peer
    return hops[0] if hops and _is_ip(hops[0]) else peer


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
