"""Emailed challenges: open one (code and/or link), then check a code or a link against it."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.auth.codes import CODE_TTL, MAX_ATTEMPTS, CodeHasher, generate_code, new_handle
from app.auth.exceptions import CodeExpired, InvalidCode, InvalidToken, TooManyAttempts
from app.auth.repository import ChallengeRepository
from app.models import AuthChallenge, ChallengePurpose


@dataclass(frozen=True, slots=True)
class PendingCredentials:
    """What one signup chose; they become the account's only when its challenge is redeemed."""

    name: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class OpenedChallenge:
    handle: str
    code: str | None
    link_token: str | None


# Stored instead of a code hash on a decoy: no HMAC hex digest ever equals it.
UNMATCHABLE_CODE_HASH = "!"


def hash_link_token(token: str) -> str:
    # Link tokens carry 256 random bits: a plain digest is enough to make a leaked table useless.
    return hashlib.sha256(token.encode()).hexdigest()


class ChallengeService:
    def __init__(
        self,
        challenges: ChallengeRepository,
        codes: CodeHasher,
        clock: Callable[[], datetime],
    ) -> None:
        self.challenges = challenges
        self.codes = codes
        self.clock = clock

    async def open(
        self,
        user_id: int,
        purpose: ChallengePurpose,
        *,
        with_code: bool,
        with_link: bool,
        pending: PendingCredentials | None = None,
        replaces: AuthChallenge | None = None,
    ) -> OpenedChallenge:
        """A new challenge. A login code replaces the user's open ones (only the password
        holder can ask for one). A signup challenge is its own registration and replaces only
        `replaces` (a resend), so one signup never expires another person's pending one; reset
        links replace nothing, so anyone asking for more cannot invalidate the owner's link
        (they all die when one is used)."""
        now = self.clock()
        if replaces is not None:
            await self.challenges.retire(replaces.id, now)
        elif purpose is ChallengePurpose.LOGIN:
            await self.challenges.retire_open(user_id, purpose, now)
        handle = new_handle()
        code = generate_code() if with_code else None
        link_token = secrets.token_urlsafe(32) if with_link else None
        await self.challenges.add(
            AuthChallenge(
                user_id=user_id,
                purpose=purpose,
                handle=handle,
                code_hash=self.codes.hash(code, handle) if code else None,
                link_token_hash=hash_link_token(link_token) if link_token else None,
                pending_name=pending.name if pending else None,
                pending_password_hash=pending.password_hash if pending else None,
                expires_at=now + CODE_TTL,
            )
        )
        return OpenedChallenge(handle=handle, code=code, link_token=link_token)

    async def open_decoy(self, user_id: int, purpose: ChallengePurpose) -> str:
        """A challenge no code opens; it retires nothing, so the owner's open code stays."""
        handle = new_handle()
        await self.challenges.add(
            AuthChallenge(
                user_id=user_id,
                purpose=purpose,
                handle=handle,
                code_hash=UNMATCHABLE_CODE_HASH,
                expires_at=self.clock() + CODE_TTL,
            )
        )
        return handle

    async def redeem_code(self, handle: str, code: str, purpose: ChallengePurpose) -> AuthChallenge:
        """Check the code and consume the challenge; the challenge it proves."""
        challenge = await self.challenges.get_by_handle(handle, purpose)
        now = self.clock()
        if challenge is None or challenge.consumed_at is not None or challenge.code_hash is None:
            raise InvalidToken()
        if challenge.expires_at <= now:
            raise CodeExpired()
        # Spend the attempt before comparing, atomically, so parallel guesses cannot exceed it.
        if await self.challenges.spend_attempt(challenge.id, MAX_ATTEMPTS) is None:
            raise TooManyAttempts()
        if not self.codes.matches(code, handle, challenge.code_hash):
            raise InvalidCode()
        if not await self.challenges.consume(challenge.id, now):
            raise InvalidToken()
        return challenge

    async def redeem_link(self, token: str, purpose: ChallengePurpose) -> AuthChallenge:
        challenge = await self.challenges.get_by_link_hash(hash_link_token(token), purpose)
        now = self.clock()
        if challenge is None or challenge.expires_at <= now:
            raise InvalidToken()
        if not await self.challenges.consume(challenge.id, now):
            raise InvalidToken()
        return challenge

    async def signup_registration(self, user_id: int, handle: str | None) -> AuthChallenge | None:
        """The registration a resend re-issues: the one `handle` names (a signup of this user),
        else the newest one. Superseded or expired ones still count: the user is unverified, so
        nobody has redeemed any, and a resend is exactly for a code that ran out."""
        if handle is None:
            return await self.challenges.newest_signup(user_id)
        challenge = await self.challenges.get_by_handle(handle, ChallengePurpose.SIGNUP)
        if challenge is None or challenge.user_id != user_id:
            raise InvalidToken()
        return challenge

    async def retire_all(self, user_id: int, purpose: ChallengePurpose) -> None:
        await self.challenges.retire_open(user_id, purpose, self.clock())

    async def close_signups(self, user_id: int) -> None:
        await self.challenges.close_signups(user_id, self.clock())

    async def link_is_open(self, token: str, purpose: ChallengePurpose) -> bool:
        challenge = await self.challenges.get_by_link_hash(hash_link_token(token), purpose)
        return _is_open(challenge, self.clock())

    async def handle_is_open(self, handle: str) -> bool:
        return _is_open(await self.challenges.get_any_by_handle(handle), self.clock())


def _is_open(challenge: AuthChallenge | None, now: datetime) -> bool:
    return (
        challenge is not None
        and challenge.consumed_at is None
        and challenge.expires_at > now
        and challenge.attempts < MAX_ATTEMPTS
    )
