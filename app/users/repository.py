from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.core.repository import Repository
from app.models import User


class UserRepository(Repository[User]):
    model = User

    async def get_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email))

    async def get_by_google_sub(self, google_sub: str) -> User | None:
        return await self.session.scalar(select(User).where(User.google_sub == google_sub))

    async def add_if_email_free(self, user: User) -> User | None:
        """Insert, or None when a concurrent signup took the email first (unique index)."""
        try:
            async with self.session.begin_nested():
                self.session.add(user)
                await self.session.flush()
        except IntegrityError:
            return None
        return user

    async def activate(
        self, user_id: int, *, name: str | None, hashed_password: str | None
    ) -> bool:
        """Verify the user and, when given, make these its name and password, in one statement
        that only an unverified row matches: of two signups redeemed at once, one wins."""
        values: dict[str, object] = {"verified": True}
        if hashed_password is not None:
            values["hashed_password"] = hashed_password
        if name is not None:
            values["name"] = name
        result = await self.session.execute(
            update(User)
            .where(User.id == user_id, User.verified.is_(False))
            .values(**values)
            .returning(User.id)
        )
        return result.scalar_one_or_none() is not None

    async def mark_verified(self, user_id: int) -> bool:
        """True when this call verified the user (False if already verified)."""
        result = await self.session.execute(
            update(User)
            .where(User.id == user_id, User.verified.is_(False))
            .values(verified=True)
            .returning(User.id)
        )
        return result.scalar_one_or_none() is not None
