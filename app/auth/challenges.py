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
class OpenedChallenge:
    handle: str
    code: str | None
    link_token: str | None


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
        self, user_id: int, purpose: ChallengePurpose, *, with_code: bool, with_link: bool
    ) -> OpenedChallenge:
        now = self.clock()
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
                expires_at=now + CODE_TTL,
            )
        )
        return OpenedChallenge(handle=handle, code=code, link_token=link_token)

    async def redeem_code(self, handle: str, code: str, purpose: ChallengePurpose) -> int:
        """Check the code and consume the challenge; the user id it proves."""
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
        return challenge.user_id

    async def redeem_link(self, token: str, purpose: ChallengePurpose) -> int:
        challenge = await self.challenges.get_by_link_hash(hash_link_token(token), purpose)
        now = self.clock()
        if challenge is None or challenge.expires_at <= now:
            raise InvalidToken()
        if not await self.challenges.consume(challenge.id, now):
            raise InvalidToken()
        return challenge.user_id

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
