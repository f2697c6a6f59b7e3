"""Signed-in sessions: issuing tokens, refresh rotation with reuse detection, revocation."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.auth.repository import SessionRepository
from app.auth.tokens import InvalidToken, TokenClaims, TokenService, TokenType
from app.core.errors import NotAuthenticated
from app.models import AuthSession, User

SESSION_CLAIM = "sid"


class RefreshTokenReused(NotAuthenticated):
    message = "This session was ended because an old refresh token was used again."
    # The family's revocation must stick although the request fails.
    persist_changes = True


@dataclass(frozen=True, slots=True)
class SessionTokens:
    session_id: str
    access_token: str
    refresh_token: str
    access_expires_in: int
    refresh_expires_in: int


def utcnow() -> datetime:
    return datetime.now(UTC)


class SessionService:
    def __init__(
        self,
        sessions: SessionRepository,
        tokens: TokenService,
        *,
        reuse_grace: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.tokens = tokens
        self.reuse_grace = reuse_grace
        self.clock = clock

    async def start(self, user_id: int) -> SessionTokens:
        session_id = secrets.token_urlsafe(24)
        refresh = self.tokens.issue(TokenType.REFRESH, user_id, extra={SESSION_CLAIM: session_id})
        await self.sessions.add(
            AuthSession(
                id=session_id,
                user_id=user_id,
                current_jti=refresh.jti,
                expires_at=refresh.expires_at,
            )
        )
        return self._tokens(user_id, session_id, refresh.token)

    async def authenticate(self, access_token: str) -> User:
        claims = self._decode(access_token, TokenType.ACCESS)
        user = await self.sessions.get_live_user(_session_id(claims), claims.sub, self.clock())
        if user is None:
            raise NotAuthenticated()
        return user

    async def describe(self, access_token: str) -> tuple[int, datetime] | None:
        """(user id, expiry) of a live access token, None for anything else: for callers that
        ask whether they are signed in without being refused."""
        try:
            claims = self._decode(access_token, TokenType.ACCESS)
        except NotAuthenticated:
            return None
        user = await self.sessions.get_live_user(_session_id(claims), claims.sub, self.clock())
        return (user.id, claims.exp) if user is not None else None

    def session_of(self, access_token: str) -> str | None:
        """The session id in a still-valid access token, if any (used by logout)."""
        try:
            return _session_id(self._decode(access_token, TokenType.ACCESS))
        except NotAuthenticated:
            return None

    def identify(self, access_token: str) -> tuple[int, str]:
        """(user id, session id) of a well-signed access token, without the database; the
        caller proves the session is live in its own query."""
        return identify(self.tokens, access_token)

    def session_of_refresh(self, refresh_token: str) -> str | None:
        try:
            return _session_id(self._decode(refresh_token, TokenType.REFRESH))
        except NotAuthenticated:
            return None

    async def refresh(self, refresh_token: str) -> SessionTokens:
        claims = self._decode(refresh_token, TokenType.REFRESH)
        session_id = _session_id(claims)
        now = self.clock()
        family = await self.sessions.get_fresh(session_id)
        if family is None or family.user_id != claims.sub or family.revoked_at is not None:
            raise NotAuthenticated()
        if claims.jti == family.current_jti:
            rotated = self.tokens.issue(
                TokenType.REFRESH, claims.sub, extra={SESSION_CLAIM: session_id}
            )
            if await self.sessions.rotate(
                session_id, claims.jti, rotated.jti, now, rotated.expires_at
            ):
                return self._tokens(claims.sub, session_id, rotated.token)
            # Another request rotated it between our read and our update: look again.
            family = await self.sessions.get_fresh(session_id)
            if family is None or family.revoked_at is not None:
                raise NotAuthenticated()
        if self._within_grace(family, claims.jti, now):
            # Tabs refreshing together: join the family at its current token.
            current = self.tokens.issue(
                TokenType.REFRESH,
                claims.sub,
                jti=family.current_jti,
                extra={SESSION_CLAIM: session_id},
            )
            return self._tokens(claims.sub, session_id, current.token)
        await self.sessions.revoke(session_id, now, "refresh_reuse")
        raise RefreshTokenReused()

    async def end(self, session_id: str, reason: str = "logout") -> None:
        await self.sessions.revoke(session_id, self.clock(), reason)

    async def end_all(self, user_id: int, reason: str) -> None:
        await self.sessions.revoke_all_for_user(user_id, self.clock(), reason)

    def _within_grace(self, family: AuthSession, jti: str, now: datetime) -> bool:
        return (
            jti == family.previous_jti
            and family.rotated_at is not None
            and now - family.rotated_at <= self.reuse_grace
        )

    def _tokens(self, user_id: int, session_id: str, refresh_token: str) -> SessionTokens:
        access = self.tokens.issue(TokenType.ACCESS, user_id, extra={SESSION_CLAIM: session_id})
        return SessionTokens(
            session_id=session_id,
            access_token=access.token,
            refresh_token=refresh_token,
            access_expires_in=int(self.tokens.ttl(TokenType.ACCESS).total_seconds()),
            refresh_expires_in=int(self.tokens.ttl(TokenType.REFRESH).total_seconds()),
        )

    def _decode(self, token: str, token_type: TokenType) -> TokenClaims:
        try:
            return self.tokens.decode(token, token_type)
        except InvalidToken:
            raise NotAuthenticated() from None


def identify(tokens: TokenService, access_token: str) -> tuple[int, str]:
    """`SessionService.identify` without a service (the status poll builds none): 401 for a
    forged, expired or wrong-type token, or one that names no session."""
    try:
        claims = tokens.decode(access_token, TokenType.ACCESS)
    except InvalidToken:
        raise NotAuthenticated() from None
    return claims.sub, _session_id(claims)


def _session_id(claims: TokenClaims) -> str:
    session_id = claims.extra.get(SESSION_CLAIM)
    if not isinstance(session_id, str) or not session_id:
        raise NotAuthenticated()
    return session_id
