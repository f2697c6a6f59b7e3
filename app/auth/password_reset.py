"""Password reset: a single-use emailed link that also ends every session of the user."""

from __future__ import annotations

from collections.abc import Callable

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
        issue_later: Callable[[str], None] | None = None,
    ) -> None:
        self.users = users
        self.challenges = challenges
        self.sessions = sessions
        self.passwords = passwords
        self.mailer = mailer
        self.limiter = limiter
        self.rule = rule
        # Runs `issue(email)` in its own unit of work once the response has been sent.
        self.issue_later = issue_later

    async def request(self, email: str) -> None:
        """The same work for every address before the answer: one unit of the address's
        reset-mail budget, and `issue` scheduled for after the response. Whether an account
        uses the email is looked up only then, so neither the answer nor its timing tells.

        Over the budget the answer is the same and nothing new is sent; the links already
        mailed stay valid (a new link does not replace the older ones), so a flood of requests
        cannot keep the owner from resetting with the newest link in their inbox."""
        if await self.limiter.take(self.rule, "reset-mail", email) and self.issue_later:
            self.issue_later(email)

    async def issue(self, email: str) -> None:
        """Email a reset link when the account exists (after the response)."""
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
        # Single use in the wider sense too: every other reset link of the account dies here.
        await self.challenges.retire_all(user_id, ChallengePurpose.PASSWORD_RESET)
        await self.sessions.end_all(user_id, "password_reset")
