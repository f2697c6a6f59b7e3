"""Auth dependencies: the services per request, and `CurrentUser` for protected routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import ResourcesDep, SessionDep, SettingsDep
from app.auth.challenges import ChallengeService
from app.auth.cookies import ACCESS_COOKIE, SESSION_COOKIE, CookiePolicy
from app.auth.csrf import enforce_same_origin, enforce_same_origin_for_browsers
from app.auth.exceptions import EmailNotVerified, NoCookiesFound
from app.auth.google_accounts import GoogleAccountService
from app.auth.google_pictures import GooglePictureCopier
from app.auth.mailer import AccountMailer
from app.auth.password_reset import PasswordResetService
from app.auth.repository import ChallengeRepository, SessionRepository
from app.auth.service import AccountService
from app.auth.sessions import SessionService, identify, utcnow
from app.core.config import Settings
from app.core.db import after_commit, release
from app.core.errors import NotAuthenticated
from app.core.log_context import bind_log_fields
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService
from app.models import User
from app.resources import Resources
from app.users.repository import UserRepository

# Lets Swagger UI's Authorize button log in; errors are ours, so auto_error is off.
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


def build_session_service(session: AsyncSession, resources: Resources) -> SessionService:
    return SessionService(
        SessionRepository(session),
        resources.tokens,
        reuse_grace=timedelta(seconds=resources.settings.REFRESH_REUSE_GRACE_S),
    )


async def get_session_service(session: SessionDep, resources: ResourcesDep) -> SessionService:
    # Async: a plain `def` dependency costs a thread-pool hop on every signed-in request.
    return build_session_service(session, resources)


SessionServiceDep = Annotated[SessionService, Depends(get_session_service)]


def build_account_mailer(session: AsyncSession, resources: Resources) -> AccountMailer:
    return AccountMailer(
        resources.email_sender,
        resources.email_templates,
        resources.settings,
        partial(after_commit, session),
    )


async def get_account_mailer(session: SessionDep, resources: ResourcesDep) -> AccountMailer:
    return build_account_mailer(session, resources)


AccountMailerDep = Annotated[AccountMailer, Depends(get_account_mailer)]


def build_challenge_service(session: AsyncSession, resources: Resources) -> ChallengeService:
    return ChallengeService(ChallengeRepository(session), resources.codes, utcnow)


async def get_challenge_service(session: SessionDep, resources: ResourcesDep) -> ChallengeService:
    return build_challenge_service(session, resources)


ChallengeServiceDep = Annotated[ChallengeService, Depends(get_challenge_service)]


async def get_account_service(
    session: SessionDep,
    resources: ResourcesDep,
    sessions: SessionServiceDep,
    challenges: ChallengeServiceDep,
    mailer: AccountMailerDep,
) -> AccountService:
    return AccountService(
        UserRepository(session),
        challenges,
        sessions,
        CreditsService(CreditLedgerRepository(session)),
        resources.passwords,
        mailer,
        resources.settings,
        resources.limiter,
    )


AccountServiceDep = Annotated[AccountService, Depends(get_account_service)]


async def get_password_reset_service(
    session: SessionDep, resources: ResourcesDep, after_response: BackgroundTasks
) -> PasswordResetService:
    def issue_later(email: str) -> None:
        async def issue() -> None:
            async with resources.database.unit_of_work() as own_session:
                await build_password_reset_service(own_session, resources).issue(email)

        async def spawn() -> None:
            # Async, so Starlette runs it on the loop rather than in a worker thread.
            resources.database.background.spawn(issue, name="password-reset")

        # Spawned once the response is out, into the tracked background tasks (shutdown and
        # tests wait for them); the lookup, the challenge and the mail happen there.
        after_response.add_task(spawn)

    return build_password_reset_service(session, resources, issue_later)


def build_password_reset_service(
    session: AsyncSession,
    resources: Resources,
    issue_later: Callable[[str], None] | None = None,
) -> PasswordResetService:
    return PasswordResetService(
        UserRepository(session),
        build_challenge_service(session, resources),
        build_session_service(session, resources),
        resources.passwords,
        build_account_mailer(session, resources),
        resources.limiter,
        resources.settings.RATE_LIMIT_AUTH,
        issue_later,
    )


PasswordResetServiceDep = Annotated[PasswordResetService, Depends(get_password_reset_service)]


async def get_google_account_service(
    session: SessionDep, resources: ResourcesDep, sessions: SessionServiceDep
) -> GoogleAccountService:
    copier = GooglePictureCopier(
        resources.database,
        resources.storage,
        resources.picture_fetcher,
        resources.image_policy,
        resources.settings,
    )

    def copy_after_commit(user_id: int, url: str) -> None:
        async def copy() -> None:
            await copier.copy(user_id, url)

        after_commit(session, copy)

    return GoogleAccountService(
        UserRepository(session),
        sessions,
        CreditsService(CreditLedgerRepository(session)),
        resources.settings,
        copy_after_commit,
    )


GoogleAccountServiceDep = Annotated[GoogleAccountService, Depends(get_google_account_service)]


async def get_cookie_policy(settings: SettingsDep) -> CookiePolicy:
    return CookiePolicy(settings)


CookiePolicyDep = Annotated[CookiePolicy, Depends(get_cookie_policy)]


async def same_origin_for_browser_sign_in(request: Request, settings: SettingsDep) -> None:
    """On the endpoints that set session cookies; runs before the body is read."""
    enforce_same_origin_for_browsers(request, settings)


SignInCsrf = Depends(same_origin_for_browser_sign_in)


@dataclass(frozen=True, slots=True)
class AccessCredentials:
    token: str
    via_cookie: bool


async def read_access_credentials(
    request: Request, bearer: Annotated[str | None, Depends(bearer_scheme)]
) -> AccessCredentials | None:
    if bearer:
        return AccessCredentials(bearer, via_cookie=False)
    cookie = request.cookies.get(ACCESS_COOKIE)
    return AccessCredentials(cookie, via_cookie=True) if cookie else None


AccessCredentialsDep = Annotated[AccessCredentials | None, Depends(read_access_credentials)]


def no_credentials(request: Request) -> Exception:
    """What a request without an access token gets: 401 when the browser still holds a
    session (its presence cookie), so the web app refreshes and retries; else 400
    NO_COOKIES_FOUND, the web app's "anonymous"."""
    if request.cookies.get(SESSION_COOKIE):
        return NotAuthenticated()
    return NoCookiesFound()


async def _authenticated_user(
    request: Request,
    credentials: AccessCredentials | None,
    sessions: SessionService,
    settings: Settings,
) -> User:
    if credentials is None:
        raise no_credentials(request)
    if credentials.via_cookie:
        enforce_same_origin(request, settings)
    user = await sessions.authenticate(credentials.token)
    if not user.verified:
        raise EmailNotVerified()
    # Rate limits key authenticated requests by user.
    request.state.user_id = user.id
    bind_log_fields(user_id=user.id)
    return user


async def get_current_user(
    request: Request,
    credentials: AccessCredentialsDep,
    sessions: SessionServiceDep,
    settings: SettingsDep,
    session: SessionDep,
) -> User:
    user = await _authenticated_user(request, credentials, sessions, settings)
    if request.method not in _READ_METHODS:
        # A changing request may read a slow body or call a provider next: hold no connection
        # meanwhile. Its writes open their own short transaction (core/db.py).
        await release(session)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_current_user_in_unit(
    request: Request,
    credentials: AccessCredentialsDep,
    sessions: SessionServiceDep,
    settings: SettingsDep,
) -> User:
    """`get_current_user` whose read stays in the request's unit of work: for changing routes
    whose JSON body FastAPI has already read (it reads a declared body before it solves any
    dependency) and whose services release the connection themselves before slow work (the
    generation routes: image intake and the photo measurement do). The accept then runs its
    reads and writes in one transaction on PostgreSQL instead of opening one for the user read
    alone (a BEGIN and a COMMIT round trip more per request); SQLite reads outside any
    transaction either way."""
    return await _authenticated_user(request, credentials, sessions, settings)


CurrentUserInUnit = Annotated[User, Depends(get_current_user_in_unit)]


@dataclass(frozen=True, slots=True)
class SessionIdentity:
    user_id: int
    session_id: str


async def get_session_identity(
    request: Request, credentials: AccessCredentialsDep, resources: ResourcesDep
) -> SessionIdentity:
    """For read-only hot paths: who the token names, checked against the database by the
    route's own query instead of a separate user load. Opens no session and builds no
    service: the token is checked with the process's token service."""
    if credentials is None:
        raise no_credentials(request)
    user_id, session_id = identify(resources.tokens, credentials.token)
    return SessionIdentity(user_id, session_id)


CurrentSession = Annotated[SessionIdentity, Depends(get_session_identity)]
