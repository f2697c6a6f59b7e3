"""Password reset: a single-use emailed link that also ends every session of the user."""

from __future__ import annotations

from app.auth.challenges import ChallengeService
from app.auth.exceptions import InvalidToken
from app.auth.mailer import AccountMailer
from app.auth.passwords import PasswordHasher
from app.auth.sessions import SessionService
from app.core.rate_limit import RateLimiter
from app.models import ChallengePurpose
from app.users.repository import UserRepository


class PasswordResetService:
    def __init__(
        self,
        users: UserRepository,
        challenges: ChallengeService,
        sessions: SessionService,
        passwords: PasswordHasher,
        mailer: AccountMailer,
        limiter: RateLimiter,
        rule: str,
    ) -> None:
        self.users = users
        self.challenges = challenges
        self.sessions = sessions
        self.passwords = passwords
        self.mailer = mailer
        self.limiter = limiter
        self.rule = rule

    async def request(self, email: str) -> None:
        """Email a reset link when the account exists; callers answer the same either way."""
        await self.limiter.hit(self.rule, "account", email)
        user = await self.users.get_by_email(email)
        if user is None:
            return
        opened = await self.challenges.open(
            user.id, ChallengePurpose.PASSWORD_RESET, with_code=False, with_link=True
        )
        assert opened.link_token is not None
        self.mailer.password_reset(user.email, user.name, opened.link_token)

    async def check(self, token: str) -> None:
        if not await self.challenges.link_is_open(token, ChallengePurpose.PASSWORD_RESET):
            raise InvalidToken()

    async def reset(self, token: str, new_password: str) -> None:
        user_id = (
            await self.challenges.redeem_link(token, ChallengePurpose.PASSWORD_RESET)
        ).user_id
        user = await self.users.get(user_id)
        if user is None:
            raise InvalidToken()
        user.hashed_password = await self.passwords.hash(new_password)
        await self.sessions.end_all(user_id, "password_reset")
