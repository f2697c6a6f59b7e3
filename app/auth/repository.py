from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import BindParameter, ColumnElement, Select, and_, bindparam, select, update

from app.core.repository import Repository
from app.models import AuthChallenge, AuthSession, User


class ChallengeRepository(Repository[AuthChallenge]):
    model = AuthChallenge

    async def get_by_handle(self, handle: str, purpose: str) -> AuthChallenge | None:
        return await self.session.scalar(
            select(AuthChallenge).where(
                AuthChallenge.handle == handle, AuthChallenge.purpose == purpose
            )
        )

    async def get_any_by_handle(self, handle: str) -> AuthChallenge | None:
        return await self.session.scalar(
            select(AuthChallenge).where(AuthChallenge.handle == handle)
        )

    async def get_by_link_hash(self, link_hash: str, purpose: str) -> AuthChallenge | None:
        return await self.session.scalar(
            select(AuthChallenge).where(
                AuthChallenge.link_token_hash == link_hash, AuthChallenge.purpose == purpose
            )
        )

    async def spend_attempt(self, challenge_id: int, max_attempts: int) -> int | None:
        """Count one attempt atomically; the new count, or None when none were left."""
        result = await self.session.execute(
            update(AuthChallenge)
            .where(
                AuthChallenge.id == challenge_id,
                AuthChallenge.attempts < max_attempts,
                AuthChallenge.consumed_at.is_(None),
            )
            .values(attempts=AuthChallenge.attempts + 1)
            .returning(AuthChallenge.attempts)
        )
        return result.scalar_one_or_none()

    async def consume(self, challenge_id: int, now: datetime) -> bool:
        """Single use: True only for the one caller that consumed it."""
        result = await self.session.execute(
            update(AuthChallenge)
            .where(AuthChallenge.id == challenge_id, AuthChallenge.consumed_at.is_(None))
            .values(consumed_at=now)
            .returning(AuthChallenge.id)
        )
        return result.scalar_one_or_none() is not None

    async def newest_signup(self, user_id: int) -> AuthChallenge | None:
        """The newest signup registration of this user that carries credentials."""
        return await self.session.scalar(
            select(AuthChallenge)
            .where(
                AuthChallenge.user_id == user_id,
                AuthChallenge.purpose == "signup",
                AuthChallenge.pending_password_hash.is_not(None),
            )
            .order_by(AuthChallenge.created_at.desc(), AuthChallenge.id.desc())
            .limit(1)
        )

    async def retire(self, challenge_id: int, now: datetime) -> None:
        await self.session.execute(
            update(AuthChallenge)
            .where(AuthChallenge.id == challenge_id, AuthChallenge.consumed_at.is_(None))
            .values(consumed_at=now)
        )

    async def close_signups(self, user_id: int, now: datetime) -> None:
        """The account is verified: every other pending registration expires, and the
        password hashes they held are dropped."""
        await self.retire_open(user_id, "signup", now)
        await self.session.execute(
            update(AuthChallenge)
            .where(AuthChallenge.user_id == user_id, AuthChallenge.purpose == "signup")
            .values(pending_password_hash=None)
        )

    async def retire_open(self, user_id: int, purpose: str, now: datetime) -> None:
        """A new code replaces the older ones of the same purpose."""
        await self.session.execute(
            update(AuthChallenge)
            .where(
                AuthChallenge.user_id == user_id,
                AuthChallenge.purpose == purpose,
                AuthChallenge.consumed_at.is_(None),
            )
            .values(consumed_at=now)
        )


def live_session(
    session_id: str | BindParameter[str], now: datetime | BindParameter[datetime]
) -> ColumnElement[bool]:
    """The one definition of a usable session: this id, not revoked, not expired. Values, or
    bound parameters for a statement built once (the status poll's)."""
    return and_(
        AuthSession.id == session_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > now,
    )


class SessionRepository(Repository[AuthSession]):
    model = AuthSession

    async def get_fresh(self, session_id: str) -> AuthSession | None:
        """Read past the identity map: a concurrent refresh may have just rotated it."""
        return await self.session.scalar(
            select(AuthSession)
            .where(AuthSession.id == session_id)
            .execution_options(populate_existing=True)
        )

    async def get_live_user(self, session_id: str, user_id: int, now: datetime) -> User | None:
        """The hot-path check: the session is live and its user exists, in one keyed read."""
        params = {"session_id": session_id, "user_id": user_id, "now": now}
        return await self.session.scalar(_live_user(), params)

    async def rotate(
        self, session_id: str, presented_jti: str, new_jti: str, now: datetime, expires_at: datetime
    ) -> bool:
        """Move the family to `new_jti` iff `presented_jti` is still current (atomic)."""
        result = await self.session.execute(
            update(AuthSession)
            .where(
                AuthSession.id == session_id,
                AuthSession.current_jti == presented_jti,
                AuthSession.revoked_at.is_(None),
            )
            .values(
                previous_jti=presented_jti,
                current_jti=new_jti,
                rotated_at=now,
                expires_at=expires_at,
            )
            .returning(AuthSession.id)
        )
        return result.scalar_one_or_none() is not None

    async def revoke(self, session_id: str, now: datetime, reason: str) -> None:
        await self.session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )

    async def revoke_all_for_user(self, user_id: int, now: datetime, reason: str) -> None:
        await self.session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )


@functools.cache
def _live_user() -> Select[User]:
    """`get_live_user`'s statement, built once per process: every signed-in request runs it,
    and building it per request cost more CPU than executing it."""
    session_id: BindParameter[str] = bindparam("session_id")
    now: BindParameter[datetime] = bindparam("now")
    return (
        select(User)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(live_session(session_id, now), AuthSession.user_id == bindparam("user_id"))
    )
