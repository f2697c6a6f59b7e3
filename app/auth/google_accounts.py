"""Google sign-in's account rules: find, link or create the user, then start a session."""

from __future__ import annotations

from collections.abc import Callable

from app.auth.exceptions import EmailNotVerified
from app.auth.google import GoogleIdentity
from app.auth.service import SignedIn
from app.auth.sessions import SessionService
from app.core.config import Settings
from app.core.errors import AppError
from app.credits.service import CreditsService, Reference
from app.models import CreditReason, User
from app.users.repository import UserRepository
from app.users.schemas import without_control_characters


class GoogleEmailNotVerified(EmailNotVerified):
    message = "Google has not verified this email address; verify it with Google first."


class GoogleAccountConflict(AppError):
    status_code = 409
    code = "GOOGLE_ACCOUNT_CONFLICT"
    message = (
        "This email's account is linked to a different Google account; sign in with that "
        "Google account or with your password."
    )


class GoogleAccountService:
    def __init__(
        self,
        users: UserRepository,
        sessions: SessionService,
        credits: CreditsService,
        settings: Settings,
        copy_picture: Callable[[int, str], None] | None = None,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.credits = credits
        self.settings = settings
        # Schedules the copy of a Google picture into our storage once this commits.
        self.copy_picture = copy_picture

    async def sign_in(self, identity: GoogleIdentity) -> SignedIn:
        user = await self.users.get_by_google_sub(identity.sub)
        if user is None:
            # Only an address Google vouches for may claim or create an account: otherwise
            # anyone could sign in to someone else's account by naming its email at Google.
            if not identity.email_verified:
                raise GoogleEmailNotVerified()
            user = await self.users.get_by_email(identity.email)
            user = await (self._link(user, identity) if user else self._create(identity))
        return SignedIn(user=user, tokens=await self.sessions.start(user.id))

    async def _link(self, user: User, identity: GoogleIdentity) -> User:
        if user.google_sub is not None and user.google_sub != identity.sub:
            # The address now belongs to another Google account (recycled, re-provisioned):
            # relinking would hand this account to whoever holds that one.
            raise GoogleAccountConflict()
        user.google_sub = identity.sub
        if not user.verified:
            # The password on an unverified account was set by someone who never proved the
            # address; Google just proved it for this person, so that password goes.
            user.hashed_password = None
            await self.users.session.flush()
            await self._verify(user)
        if user.userpic is None and identity.picture:
            user.userpic = identity.picture
            self._copy_later(user.id, identity.picture)
        await self.users.session.flush()
        return user

    async def _create(self, identity: GoogleIdentity) -> User:
        raw_name = without_control_characters(identity.name or identity.email.split("@")[0])
        name = raw_name.strip()[:50] or "HairTryOn user"
        user = await self.users.add_if_email_free(
            User(
                email=identity.email,
                name=name if len(name) >= 2 else f"{name} user",
                google_sub=identity.sub,
                userpic=identity.picture,
            )
        )
        if user is None:
            # A signup for the same address won the race: link to it instead.
            existing = await self.users.get_by_email(identity.email)
            assert existing is not None
            return await self._link(existing, identity)
        await self._verify(user)
        if identity.picture:
            self._copy_later(user.id, identity.picture)
        return user

    def _copy_later(self, user_id: int, url: str) -> None:
        if self.copy_picture is not None:
            self.copy_picture(user_id, url)

    async def _verify(self, user: User) -> None:
        if await self.users.mark_verified(user.id) and self.settings.FREE_USER_CREDITS > 0:
            await self.credits.grant(
                user.id,
                self.settings.FREE_USER_CREDITS,
                CreditReason.SIGNUP_BONUS,
                Reference("user", user.id),
            )
        await self.users.session.refresh(user)
