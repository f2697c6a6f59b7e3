"""Account use cases: sign up, verify, log in (by code or directly), refresh, log out."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.challenges import ChallengeService, PendingCredentials
from app.auth.codes import new_handle
from app.auth.exceptions import (
    AlreadyVerified,
    EmailCodeRequired,
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidLogin,
    InvalidToken,
    UserNotFound,
)
from app.auth.mailer import AccountMailer
from app.auth.passwords import PasswordHasher
from app.auth.sessions import SessionService, SessionTokens
from app.core.config import Settings
from app.core.rate_limit import RateLimiter
from app.credits.service import CreditsService, Reference
from app.models import AuthChallenge, ChallengePurpose, CreditReason, User
from app.users.repository import UserRepository


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    tokens: SessionTokens


@dataclass(frozen=True, slots=True)
class PendingSignup:
    user: User
    handle: str
    # This signup's name: the stored one changes only when this signup is verified.
    name: str


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
        """A new pending registration. On an address nobody has proven yet the stored
        credentials stay as they are: this signup's name and password wait in its own
        challenge and become the account's only if its code or link is redeemed (AUTH-13)."""
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
        handle = await self._send_signup_code(user, PendingCredentials(name, hashed))
        return PendingSignup(user=user, handle=handle, name=name)

    async def resend_signup_code(self, email: str, handle: str | None = None) -> str:
        """A new code and link for one registration: the one `handle` names, else the newest.
        It carries that registration's credentials and replaces only its old challenge."""
        await self._count_account_attempt(email)
        user = await self.users.get_by_email(email)
        if user is None:
            raise UserNotFound()
        if user.verified:
            raise AlreadyVerified()
        registration = await self.challenges.signup_registration(user.id, handle)
        pending = None
        if registration is not None and registration.pending_password_hash is not None:
            pending = PendingCredentials(
                registration.pending_name or user.name, registration.pending_password_hash
            )
        return await self._send_signup_code(user, pending, replaces=registration)

    async def verify_signup(self, handle: str, code: str) -> SignedIn:
        challenge = await self.challenges.redeem_code(handle, code, ChallengePurpose.SIGNUP)
        return await self._complete_verification(challenge)

    async def verify_signup_link(self, token: str) -> SignedIn:
        challenge = await self.challenges.redeem_link(token, ChallengePurpose.SIGNUP)
        return await self._complete_verification(challenge)

    async def request_login_code(self, email: str, password: str) -> str:
        """Check the password and email a login code: the web app's sign-in, and the step-up
        that always lets the owner in (AUTH-14).

        While the account's failure budget has room, a wrong password answers
        `INVALID_CREDENTIALS` and spends one unit of it; successes spend nothing. Once it is
        spent the account is under attack, and this endpoint stops giving verdicts: every
        request answers 200 with a handle, but only the right password gets a code in the
        mailbox. A guesser learns nothing more; the owner types the code and is in."""
        user = await self._check_password(email, password)
        budget_left = await self.limiter.allows(*self._failures(email))
        if user is None or not user.verified:
            if not budget_left:
                return await self._decoy_login_handle(email)
            if user is None:
                await self.limiter.take(*self._failures(email))
                raise InvalidCredentials()
            raise EmailNotVerified()
        # Only the password holder gets here, so nobody else can spend this mail budget.
        await self.limiter.hit(self.settings.RATE_LIMIT_AUTH, "login-code", email)
        opened = await self.challenges.open(
            user.id, ChallengePurpose.LOGIN, with_code=True, with_link=False
        )
        assert opened.code is not None
        self.mailer.login_code(user.email, user.name, opened.code)
        return opened.handle

    async def verify_login(self, handle: str, code: str) -> SignedIn:
        challenge = await self.challenges.redeem_code(handle, code, ChallengePurpose.LOGIN)
        user = await self._existing(challenge.user_id)
        return SignedIn(user=user, tokens=await self.sessions.start(user.id))

    async def is_code_handle_valid(self, handle: str) -> bool:
        return await self.challenges.handle_is_open(handle)

    async def is_email_verified(self, email: str) -> bool:
        user = await self.users.get_by_email(email)
        if user is None:
            raise UserNotFound()
        return user.verified

    async def log_in(self, email: str, password: str) -> SignedIn:
        """Direct login. Failures spend the account's failure budget (successes do not); once
        it is spent the answer is 429 without a verdict, right password or not, and the way
        in is the emailed code (`request-login-token`), which still works."""
        if self.settings.REQUIRE_LOGIN_CODE:
            raise EmailCodeRequired()
        if not await self.limiter.allows(*self._failures(email)):
            raise await self._under_attack(email)
        user = await self._check_password(email, password)
        # Checked again after the hash: hashes queue one at a time, and guesses that waited
        # together must not all get a verdict.
        if not await self.limiter.allows(*self._failures(email)):
            raise await self._under_attack(email)
        if user is None:
            await self.limiter.take(*self._failures(email))
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
        """Per-inbox limit on signup mail: rotating IPs (or forged X-Forwarded-For) does not
        buy more mail to one inbox."""
        await self.limiter.hit(self.settings.RATE_LIMIT_AUTH, "account", email)

    def _failures(self, email: str) -> tuple[str, str, str]:
        """The account's password-failure budget (RATE_LIMIT_AUTH), whichever IPs the wrong
        passwords come from; only failures are counted."""
        return (self.settings.RATE_LIMIT_AUTH, "account-failures", email)

    async def _under_attack(self, email: str) -> Exception:
        return await self.limiter.refusal(
            *self._failures(email),
            message=(
                "Too many failed sign-ins for this account; sign in with the code sent to "
                "your email (request-login-token)."
            ),
        )

    async def _decoy_login_handle(self, email: str) -> str:
        """What a wrong password gets while the account is under attack: a handle that looks
        and behaves like a real one (valid, counts code attempts) but no code exists for it,
        so it can never sign in and nothing is mailed. It does not replace the owner's code."""
        user = await self.users.get_by_email(email)
        if user is None:
            return new_handle()
        return await self.challenges.open_decoy(user.id, ChallengePurpose.LOGIN)

    async def _check_password(self, email: str, password: str) -> User | None:
        """The user when the password matches. Unknown emails cost the same hash time."""
        user = await self.users.get_by_email(email)
        hashed = user.hashed_password if user else None
        if not await self.passwords.verify(hashed, password) or user is None:
            return None
        if hashed and self.passwords.needs_rehash(hashed):
            user.hashed_password = await self.passwords.hash(password)
        return user

    async def _send_signup_code(
        self,
        user: User,
        pending: PendingCredentials | None,
        replaces: AuthChallenge | None = None,
    ) -> str:
        opened = await self.challenges.open(
            user.id,
            ChallengePurpose.SIGNUP,
            with_code=True,
            with_link=True,
            pending=pending,
            replaces=replaces,
        )
        assert opened.code is not None
        assert opened.link_token is not None
        # Addressed with the name this signup chose: the mail shows whose signup it confirms.
        name = pending.name if pending else user.name
        self.mailer.verification(user.email, name, opened.code, opened.link_token)
        return opened.handle

    async def _complete_verification(self, challenge: AuthChallenge) -> SignedIn:
        user_id = challenge.user_id
        user = await self._existing(user_id)
        # Only this registration's credentials become the account's, and only while nobody has
        # verified the address yet: a stale registration of a verified account changes nothing.
        if not await self.users.activate(
            user_id, name=challenge.pending_name, hashed_password=challenge.pending_password_hash
        ):
            raise InvalidToken()
        await self.challenges.close_signups(user_id)
        if self.settings.FREE_USER_CREDITS > 0:
            await self.credits.grant(
                user_id,
                self.settings.FREE_USER_CREDITS,
                CreditReason.SIGNUP_BONUS,
                Reference("user", user_id),
            )
        await self.users.session.refresh(user)
        self.mailer.welcome(user.email, user.name)
        return SignedIn(user=user, tokens=await self.sessions.start(user_id))

    async def _existing(self, user_id: int) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise UserNotFound()
        return user
