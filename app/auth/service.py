"""Account use cases: sign up, verify, log in (by code or directly), refresh, log out."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.challenges import ChallengeService
from app.auth.exceptions import (
    AlreadyVerified,
    EmailCodeRequired,
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidLogin,
    UserNotFound,
)
from app.auth.mailer import AccountMailer
from app.auth.passwords import PasswordHasher
from app.auth.sessions import SessionService, SessionTokens
from app.core.config import Settings
from app.core.rate_limit import RateLimiter
from app.credits.service import CreditsService, Reference
from app.models import ChallengePurpose, CreditReason, User
from app.users.repository import UserRepository


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    tokens: SessionTokens


@dataclass(frozen=True, slots=True)
class PendingSignup:
    user: User
    handle: str


class AccountService:
    def __init__(
        self,
        users: UserRepository,
        challenges: ChallengeService,
        sessions: SessionService,
        credits: CreditsService,
        passwords: PasswordHasher,
        mailer: AccountMailer,
        settings: Settings,
        limiter: RateLimiter,
    ) -> None:
        self.users = users
        self.challenges = challenges
        self.sessions = sessions
        self.credits = credits
        self.passwords = passwords
        self.mailer = mailer
        self.settings = settings
        self.limiter = limiter

    async def sign_up(self, name: str, email: str, password: str) -> PendingSignup:
        await self._count_account_attempt(email)
        hashed = await self.passwords.hash(password)
        user = await self.users.get_by_email(email)
        if user is not None and user.verified:
            raise EmailTaken()
        if user is None:
            user = await self.users.add_if_email_free(
                User(email=email, name=name, hashed_password=hashed)
            )
            if user is None:
                raise EmailTaken()
        else:
            # Nobody has proven this address yet: the newest signup wins, so a stranger who
            # registered it first cannot keep a password on the owner's future account.
            user.name = name
            user.hashed_password = hashed
        handle = await self._send_signup_code(user)
        return PendingSignup(user=user, handle=handle)

    async def resend_signup_code(self, email: str) -> str:
        await self._count_account_attempt(email)
        user = await self.users.get_by_email(email)
        if user is None:
            raise UserNotFound()
        if user.verified:
            raise AlreadyVerified()
        return await self._send_signup_code(user)

    async def verify_signup(self, handle: str, code: str) -> SignedIn:
        user_id = await self.challenges.redeem_code(handle, code, ChallengePurpose.SIGNUP)
        return await self._complete_verification(user_id)

    async def verify_signup_link(self, token: str) -> SignedIn:
        user_id = await self.challenges.redeem_link(token, ChallengePurpose.SIGNUP)
        return await self._complete_verification(user_id)

    async def request_login_code(self, email: str, password: str) -> str:
        await self._count_account_attempt(email)
        user = await self._check_password(email, password)
        if user is None:
            raise InvalidCredentials()
        if not user.verified:
            raise EmailNotVerified()
        opened = await self.challenges.open(
            user.id, ChallengePurpose.LOGIN, with_code=True, with_link=False
        )
        assert opened.code is not None
        self.mailer.login_code(user.email, user.name, opened.code)
        return opened.handle

    async def verify_login(self, handle: str, code: str) -> SignedIn:
        user_id = await self.challenges.redeem_code(handle, code, ChallengePurpose.LOGIN)
        user = await self._existing(user_id)
        return SignedIn(user=user, tokens=await self.sessions.start(user.id))

    async def is_code_handle_valid(self, handle: str) -> bool:
        return await self.challenges.handle_is_open(handle)

    async def is_email_verified(self, email: str) -> bool:
        user = await self.users.get_by_email(email)
        if user is None:
            raise UserNotFound()
        return user.verified

    async def log_in(self, email: str, password: str) -> SignedIn:
        if self.settings.REQUIRE_LOGIN_CODE:
            raise EmailCodeRequired()
        await self._count_account_attempt(email)
        user = await self._check_password(email, password)
        if user is None:
            raise InvalidLogin()
        if not user.verified:
            raise EmailNotVerified()
        return SignedIn(user=user, tokens=await self.sessions.start(user.id))

    async def refresh(self, refresh_token: str) -> SessionTokens:
        return await self.sessions.refresh(refresh_token)

    async def log_out(self, session_id: str | None) -> None:
        if session_id is not None:
            await self.sessions.end(session_id)

    async def _count_account_attempt(self, email: str) -> None:
        """Per-account limit: rotating IPs (or forged X-Forwarded-For) does not buy more
        guesses at one account's password, nor more mail to one inbox."""
        await self.limiter.hit(self.settings.RATE_LIMIT_AUTH, "account", email)

    async def _check_password(self, email: str, password: str) -> User | None:
        """The user when the password matches. Unknown emails cost the same hash time."""
        user = await self.users.get_by_email(email)
        hashed = user.hashed_password if user else None
        if not await self.passwords.verify(hashed, password) or user is None:
            return None
        if hashed and self.passwords.needs_rehash(hashed):
            user.hashed_password = await self.passwords.hash(password)
        return user

    async def _send_signup_code(self, user: User) -> str:
        opened = await self.challenges.open(
            user.id, ChallengePurpose.SIGNUP, with_code=True, with_link=True
        )
        assert opened.code is not None
        assert opened.link_token is not None
        self.mailer.verification(user.email, user.name, opened.code, opened.link_token)
        return opened.handle

    async def _complete_verification(self, user_id: int) -> SignedIn:
        user = await self._existing(user_id)
        if await self.users.mark_verified(user_id):
            if self.settings.FREE_USER_CREDITS > 0:
                await self.credits.grant(
                    user_id,
                    self.settings.FREE_USER_CREDITS,
                    CreditReason.SIGNUP_BONUS,
                    Reference("user", user_id),
                )
            self.mailer.welcome(user.email, user.name)
        await self.users.session.refresh(user)
        return SignedIn(user=user, tokens=await self.sessions.start(user_id))

    async def _existing(self, user_id: int) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise UserNotFound()
        return user
