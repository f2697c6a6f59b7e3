"""Who may enter /admin (SPEC §7, CFG-02): users with the admin role, with their own password,
and the bootstrap account ADMIN_USERNAME / ADMIN_PASSWORD.

- The bootstrap password is hashed once at start-up (`prepare`) and checked like any other
  password, by an argon2 verify in the hashing thread limiter: the comparison is constant time
  and a login costs the same whichever account it names (an unknown name pays for a verify of
  the dummy hash). The username is compared with `hmac.compare_digest`.
- Login is throttled per client IP (every attempt) and per username (wrong passwords only).
- The session is a signed cookie scoped to /admin: HttpOnly, SameSite=Strict, Secure unless
  the server runs on a loopback name, and it ends ADMIN_SESSION_MINUTES after the login,
  however active the admin is. Each request re-reads an admin user's role: a demoted admin is
  out at the next click.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqladmin.authentication import AuthenticationBackend
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from app.admin.guard import AdminGuard, renew_csrf_token
from app.admin.identity import AdminIdentity
from app.core.config import Settings
from app.core.rate_limit import client_ip
from app.models import UserRole
from app.users.repository import UserRepository

if TYPE_CHECKING:
    from sqladmin import Admin

    from app.admin.lazy import BootstrapPassword
    from app.resources import Resources

logger = logging.getLogger(__name__)

SESSION_COOKIE = "hairtryon_admin"
SESSION_KEY = "admin"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_USERNAME = 320
MAX_PASSWORD = 1024


def session_cookie_is_secure(settings: Settings) -> bool:
    host = urlsplit(settings.public_base_url).hostname or ""
    return host not in LOOPBACK_HOSTS


class AdminAuth(AuthenticationBackend):
    def __init__(
        self,
        settings: Settings,
        resources: Callable[[], Resources],
        bootstrap: BootstrapPassword,
    ) -> None:
        key = hmac.new(
            settings.SECRET_KEY.get_secret_value().encode(), b"admin-session", hashlib.sha256
        ).hexdigest()
        super().__init__(
            secret_key=key,
            session_cookie=SESSION_COOKIE,
            max_age=settings.ADMIN_SESSION_MINUTES * 60,
            path="/admin",
            same_site="strict",
            https_only=session_cookie_is_secure(settings),
        )
        # Inside the session middleware: the guard reads and writes the session's CSRF token.
        self.middlewares.append(
            Middleware(
                AdminGuard,
                max_body_bytes=settings.max_image_bytes + 64 * 1024,
                image_origins=_image_origins(settings),
            )
        )
        self.settings = settings
        self._resources = resources
        # Hashed at start-up by the lifespan (app/admin/lazy.py), before the panel is built.
        self._bootstrap = bootstrap
        self.admin: Admin | None = None

    async def login(self, request: Request) -> Response | bool:
        resources = self._resources()
        form = await request.form()
        username = _field(form.get("username"), MAX_USERNAME).strip()
        password = _field(form.get("password"), MAX_PASSWORD)
        rule = self.settings.ADMIN_LOGIN_RATE_LIMIT
        ip = client_ip(request, resources.trusted_proxies)
        account = username.lower()
        if not await resources.limiter.take(
            rule, "admin-login-ip", ip
        ) or not await resources.limiter.allows(rule, "admin-login-user", account):
            logger.warning("admin login throttled")
            return await self._throttled(request)
        identity = await self._verify(resources, username, password)
        if identity is None:
            await resources.limiter.take(rule, "admin-login-user", account)
            logger.warning("admin login refused")
            return False
        request.session.clear()
        request.session[SESSION_KEY] = {
            "name": identity.name,
            "user_id": identity.user_id,
            "expires": time.time() + self.settings.ADMIN_SESSION_MINUTES * 60,
        }
        renew_csrf_token(request.session)
        logger.info("admin signed in (user id %s)", identity.user_id or "bootstrap")
        return True

    async def logout(self, request: Request) -> Response | bool:
        request.session.clear()
        return False  # sqladmin then redirects to the login page

    async def authenticate(self, request: Request) -> Response | bool:
        data = request.session.get(SESSION_KEY)
        if not isinstance(data, dict):
            return False
        name, user_id, expires = data.get("name"), data.get("user_id"), data.get("expires")
        if not isinstance(name, str) or not isinstance(expires, (int, float)):
            return False
        if expires <= time.time():
            request.session.pop(SESSION_KEY, None)
            return False
        if user_id is None:
            if not hmac.compare_digest(name.encode(), self.settings.ADMIN_USERNAME.encode()):
                return False
        elif not await self._still_admin(user_id):
            request.session.pop(SESSION_KEY, None)
            return False
        request.state.admin = AdminIdentity(name=name, user_id=user_id)
        return True

    async def get_user_id(self, request: Request) -> Any:
        identity = getattr(request.state, "admin", None)
        return identity.name if isinstance(identity, AdminIdentity) else None

    async def _verify(
        self, resources: Resources, username: str, password: str
    ) -> AdminIdentity | None:
        if not username or not password:
            return None
        if hmac.compare_digest(username.encode(), self.settings.ADMIN_USERNAME.encode()):
            bootstrap_hash = await self._bootstrap.prepare(resources)
            ok = await resources.passwords.verify(bootstrap_hash, password)
            return AdminIdentity(name=self.settings.ADMIN_USERNAME, user_id=None) if ok else None
        async with resources.database.unit_of_work(write=False) as session:
            user = await UserRepository(session).get_by_email(username.lower())
            stored = user.hashed_password if user is not None else None
            is_admin = user is not None and user.role == UserRole.ADMIN
        # Always one verify: an unknown or non-admin account costs what a wrong password does.
        ok = await resources.passwords.verify(stored, password)
        if not (ok and is_admin and user is not None):
            return None
        return AdminIdentity(name=user.email, user_id=user.id)

    async def _still_admin(self, user_id: Any) -> bool:
        if not isinstance(user_id, int):
            return False
        async with self._resources().database.unit_of_work(write=False) as session:
            user = await UserRepository(session).get(user_id)
            return user is not None and user.role == UserRole.ADMIN

    async def _throttled(self, request: Request) -> Response:
        assert self.admin is not None, "set by mount_admin"
        response: Response = await self.admin.templates.TemplateResponse(
            request,
            "sqladmin/login.html",
            {"error": "Too many sign-in attempts; wait a minute and try again."},
            status_code=429,
        )
        response.headers["Retry-After"] = "60"
        return response


def _field(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _image_origins(settings: Settings) -> tuple[str, ...]:
    """Where signed media URLs point: this server (local storage) or the bucket / CDN."""
    origins = {settings.public_base_url}
    for url in (settings.S3_PUBLIC_ENDPOINT_URL, settings.S3_ENDPOINT_URL):
        if url:
            parts = urlsplit(url)
            origins.add(f"{parts.scheme}://{parts.netloc}")
    if settings.CDN_DOMAIN:
        origins.add(f"https://{settings.CDN_DOMAIN.removeprefix('https://').rstrip('/')}")
    if settings.STORAGE_BACKEND == "s3":
        origins.add("https://*.amazonaws.com")
    return tuple(sorted(origins))
