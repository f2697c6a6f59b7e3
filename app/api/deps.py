"""Dependency aliases the routers use: `SessionDep`, `SettingsDep`, ..."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.tokens import InvalidToken, TokenType
from app.core.config import Settings
from app.core.rate_limit import client_ip
from app.resources import Resources


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """One session per request, committed once the handler returns.

    `scope="function"` below makes the commit happen before the response is sent, so a failed
    commit becomes an error response instead of a 200 for work that was lost. The session holds
    nothing until its first query and takes the write lock only at its first write (core/db.py),
    so a GET that writes needs no declaration and a slow client holds no lock.
    """
    async with resources.database.unit_of_work(write=False) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def get_client_ip(request: Request, resources: ResourcesDep) -> str:
    return client_ip(request, resources.trusted_proxies)


ClientIpDep = Annotated[str, Depends(get_client_ip)]


def _user_key(request: Request, resources: Resources) -> str | None:
    """The user id of a well-signed access token, checked without the database: rate limits
    only need to know whose bucket to count in."""
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else None
    token = token or request.cookies.get("access_token")
    if not token:
        return None
    try:
        return f"user:{resources.tokens.decode(token, TokenType.ACCESS).sub}"
    except InvalidToken:
        return None


async def default_rate_limit(request: Request, resources: ResourcesDep, ip: ClientIpDep) -> None:
    """SPEC §8: every /api/v1 call counts, per user when signed in, else per client IP."""
    key = _user_key(request, resources) or f"ip:{ip}"
    await resources.limiter.hit(resources.settings.RATE_LIMIT_DEFAULT, "default", key)


async def auth_ip_rate_limit(resources: ResourcesDep, ip: ClientIpDep) -> None:
    """Login, code and reset endpoints: per client IP (the services add per-account limits)."""
    await resources.limiter.hit(resources.settings.RATE_LIMIT_AUTH, "auth-ip", ip)


AuthIpRateLimit = Depends(auth_ip_rate_limit)
