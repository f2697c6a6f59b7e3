"""Dependency aliases the routers use: `SessionDep`, `SettingsDep`, ...

Every dependency here is `async def` although none awaits much: FastAPI runs a plain `def`
dependency in the thread pool, one hand-off per dependency per request (on the status poll
those hops were 12-17 % of the time). A dependency that really blocks says so and uses a thread
on purpose."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.tokens import InvalidToken, TokenType
from app.core.config import Settings
from app.core.errors import AppError
from app.core.rate_limit import client_ip
from app.resources import Resources


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_settings_dep(resources: ResourcesDep) -> Settings:
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


async def get_client_ip(request: Request, resources: ResourcesDep) -> str:
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


# Error codes that are a wrong guess (a password, a code, a token): they spend the per-IP
# brute-force budget. Anything else (EMAIL_TAKEN, EMAIL_NOT_VERIFIED, a 422...) does not.
GUESS_FAILURES = frozenset(
    {"INVALID_CREDENTIALS", "INVALID_CODE", "TOO_MANY_ATTEMPTS", "INVALID_TOKEN"}
)


def _own_budget(route: Any) -> bool:
    """Whether the matched route counts in a budget of its own instead of the general one."""
    if not isinstance(route, APIRoute):
        return False
    return any(dep.call in OWN_BUDGETS for dep in route.dependant.dependencies)


async def default_rate_limit(request: Request, resources: ResourcesDep, ip: ClientIpDep) -> None:
    """SPEC §8: every /api/v1 call counts, per user when signed in, else per client IP;
    except the calls with a budget of their own (auth flows, status polling), so that a
    sign-up or several tabs polling never spend what the rest of the app needs."""
    if _own_budget(request.scope.get("route")):
        return
    key = _user_key(request, resources) or f"ip:{ip}"
    await resources.limiter.hit(resources.settings.RATE_LIMIT_DEFAULT, "default", key)


async def brute_force_rate_limit(resources: ResourcesDep, ip: ClientIpDep) -> AsyncIterator[None]:
    """Password checks and code or link redemptions, per client IP (the services add the
    per-account budgets). Every call counts in RATE_LIMIT_AUTH_ATTEMPTS (hashing is costly);
    wrong guesses also count in RATE_LIMIT_AUTH, and once that is spent the IP gets 429 before
    any check. So an office behind one IP signs up and logs in freely, a guesser gets
    RATE_LIMIT_AUTH verdicts a minute."""
    limiter, settings = resources.limiter, resources.settings
    failures = (settings.RATE_LIMIT_AUTH, "auth-ip-failures", ip)
    if not await limiter.allows(*failures):
        raise await limiter.refusal(*failures)
    await limiter.hit(settings.RATE_LIMIT_AUTH_ATTEMPTS, "auth-ip", ip)
    try:
        yield
    except AppError as exc:
        if exc.code in GUESS_FAILURES:
            await limiter.take(*failures)
        raise


async def check_rate_limit(resources: ResourcesDep, ip: ClientIpDep) -> None:
    """Handle and status checks (`verify-code-token`, `check-email-status`,
    `verify-reset-token`): nothing to brute-force (handles are random), a generous budget."""
    await resources.limiter.hit(resources.settings.RATE_LIMIT_AUTH_CHECKS, "auth-checks", ip)


async def resend_rate_limit(resources: ResourcesDep, ip: ClientIpDep) -> None:
    """Mail resends per client IP; each inbox has its own smaller budget in the services."""
    await resources.limiter.hit(resources.settings.RATE_LIMIT_AUTH_RESEND, "auth-resend", ip)


async def status_rate_limit(request: Request, resources: ResourcesDep, ip: ClientIpDep) -> None:
    """Generation status polling, per user: the web app polls every 3 s per running job, in
    every open tab."""
    if not resources.limiter.enabled:
        return  # the key costs a token decode: none when nothing is counted
    key = _user_key(request, resources) or f"ip:{ip}"
    await resources.limiter.hit(resources.settings.RATE_LIMIT_STATUS, "status", key)


OWN_BUDGETS: frozenset[Callable[..., Any]] = frozenset(
    {brute_force_rate_limit, check_rate_limit, resend_rate_limit, status_rate_limit}
)
BruteForceRateLimit = Depends(brute_force_rate_limit)
CheckRateLimit = Depends(check_rate_limit)
ResendRateLimit = Depends(resend_rate_limit)
StatusRateLimit = Depends(status_rate_limit)


def is_rate_limited(route: Any) -> bool:
    """Whether a route (as served: an APIRoute or FastAPI's route context) counts in any
    budget; for the OpenAPI document's 429 entries."""
    budgets = {default_rate_limit, *OWN_BUDGETS}
    dependant = getattr(route, "dependant", None)
    pending = list(dependant.dependencies) if dependant is not None else []
    while pending:
        dependency = pending.pop()
        if dependency.call in budgets:
            return True
        pending.extend(dependency.dependencies)
    return False
