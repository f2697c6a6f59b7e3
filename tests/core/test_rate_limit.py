"""Rate limits (SPEC §8, RL-02): 429 in the contract shape with Retry-After, per IP and per
account, X-Forwarded-For believed only from trusted proxies."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from app.core.config import Settings
from app.core.rate_limit import RateLimiter, client_ip, parse_networks
from app.main import create_app
from app.resources import Resources
from tests.auth.flows import FRONTEND, PASSWORD, new_email
from tests.conftest import build_test_resources


@pytest.fixture
async def limited_client(
    settings: Settings, resources: Resources, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    overrides: dict[str, Any] = {"RATE_LIMIT_ENABLED": True, **getattr(request, "param", {})}
    limited = settings.model_copy(update=overrides)
    app = create_app(limited, resources=build_test_resources(limited, resources.database))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND}
        ) as client,
    ):
        yield client


async def _login(client: httpx.AsyncClient, email: str, **headers: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers=headers
    )


async def test_eleventh_login_from_one_ip_is_429_with_retry_after(
    limited_client: httpx.AsyncClient,
) -> None:
    statuses = [(await _login(limited_client, new_email())).status_code for _ in range(10)]
    assert set(statuses) == {401}
    blocked = await _login(limited_client, new_email())
    assert blocked.status_code == 429
    assert blocked.json()["detail"]["code"] == "RATE_LIMITED"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60


async def test_rl02_forwarded_for_from_an_untrusted_peer_is_ignored(
    limited_client: httpx.AsyncClient,
) -> None:
    for i in range(10):
        await _login(limited_client, new_email(), **{"X-Forwarded-For": f"203.0.113.{i}"})
    blocked = await _login(limited_client, new_email(), **{"X-Forwarded-For": "198.51.100.7"})
    assert blocked.status_code == 429


@pytest.mark.parametrize("limited_client", [{"TRUSTED_PROXIES": "127.0.0.1/32"}], indirect=True)
async def test_rl02_rotating_forwarded_for_does_not_bypass_the_account_limit(
    limited_client: httpx.AsyncClient,
) -> None:
    target = new_email()
    for i in range(10):
        response = await _login(limited_client, target, **{"X-Forwarded-For": f"203.0.113.{i}"})
        assert response.status_code == 401
    blocked = await _login(limited_client, target, **{"X-Forwarded-For": "198.51.100.99"})
    assert blocked.status_code == 429
    # A different account from a fresh address is still served: the bucket was the account's.
    other = await _login(limited_client, new_email(), **{"X-Forwarded-For": "198.51.100.100"})
    assert other.status_code == 401


@pytest.mark.parametrize("limited_client", [{"RATE_LIMIT_DEFAULT": "3/minute"}], indirect=True)
async def test_general_limit_applies_to_every_api_call(limited_client: httpx.AsyncClient) -> None:
    statuses = [(await limited_client.get("/api/v1/user/me")).status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    # Probes are outside /api/v1 and never limited.
    assert (await limited_client.get("/health")).status_code == 200


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("198.51.100.1", "203.0.113.9", "", "198.51.100.1"),
        ("10.0.0.2", "203.0.113.9", "10.0.0.0/8", "203.0.113.9"),
        ("10.0.0.2", "1.2.3.4, 203.0.113.9, 10.0.0.3", "10.0.0.0/8", "203.0.113.9"),
        ("10.0.0.2", "not-an-ip", "10.0.0.0/8", "10.0.0.2"),
        ("10.0.0.2", None, "10.0.0.0/8", "10.0.0.2"),
        ("198.51.100.1", "203.0.113.9", "10.0.0.0/8", "198.51.100.1"),
    ],
)
def test_client_ip_trusts_forwarded_for_only_from_trusted_proxies(
    peer: str, forwarded: str | None, trusted: str, expected: str
) -> None:
    assert client_ip(_request(peer, forwarded), parse_networks(trusted.split(","))) == expected


async def test_redis_storage_shares_limits_between_limiter_instances(redis_url: str) -> None:
    """Two processes each build their own limiter; on Redis they count in one bucket."""
    first, second = RateLimiter(redis_url), RateLimiter(redis_url)
    key = uuid.uuid4().hex
    await first.hit("2/minute", "test", key)
    await second.hit("2/minute", "test", key)
    with pytest.raises(Exception, match="Too many requests"):
        await first.hit("2/minute", "test", key)


async def test_disabled_limiter_never_refuses() -> None:
    limiter = RateLimiter(None, enabled=False)
    for _ in range(5):
        await limiter.hit("1/minute", "test", "same")
