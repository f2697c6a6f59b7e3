"""The auth cookies: httpOnly, `Secure` and `SameSite` derived from FRONTEND_URL.

The access cookie lives as long as the refresh token although the JWT inside expires in minutes:
a browser drops an expired cookie, and a request without it would answer NO_COOKIES_FOUND
("anonymous") instead of 401 ("refresh and retry"), logging the user out of the web app.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from starlette.responses import Response

from app.auth.sessions import SessionTokens
from app.core.config import Settings
from app.core.sites import site_of

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
# The refresh token is only ever needed by /auth/refresh and /auth/logout.
REFRESH_COOKIE_PATH = "/api/v1/auth"
# Carries no secret, on path "/" beside the access cookie and as long-lived as the refresh
# cookie: it lets every endpoint tell "the access cookie is gone but a session exists" (401,
# the web app refreshes) from "anonymous" (400 NO_COOKIES_FOUND), since the refresh cookie
# itself is not sent outside /api/v1/auth.
SESSION_COOKIE = "has_session"


class CookiePolicy:
    def __init__(self, settings: Settings) -> None:
        frontend = urlsplit(settings.frontend_origin)
        api = urlsplit(settings.public_base_url)
        self.secure = frontend.scheme == "https"
        same_site = site_of(frontend.hostname or "") == site_of(api.hostname or "")
        # Cross-site cookies need SameSite=None, which browsers accept only with Secure.
        self.samesite: Literal["lax", "none"] = "none" if self.secure and not same_site else "lax"
        self.domain = settings.COOKIE_DOMAIN

    def set_session(self, response: Response, tokens: SessionTokens) -> None:
        self._set(response, ACCESS_COOKIE, tokens.access_token, "/", tokens.refresh_expires_in)
        self._set(
            response,
            REFRESH_COOKIE,
            tokens.refresh_token,
            REFRESH_COOKIE_PATH,
            tokens.refresh_expires_in,
        )
        self._set(response, SESSION_COOKIE, "1", "/", tokens.refresh_expires_in)

    def clear(self, response: Response) -> None:
        for name, path in (
            (ACCESS_COOKIE, "/"),
            (REFRESH_COOKIE, REFRESH_COOKIE_PATH),
            (SESSION_COOKIE, "/"),
        ):
            response.delete_cookie(
                name,
                path=path,
                domain=self.domain,
                secure=self.secure,
                httponly=True,
                samesite=self.samesite,
            )

    def _set(self, response: Response, name: str, value: str, path: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            domain=self.domain,
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )
