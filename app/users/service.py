"""The signed-in user's own account: profile, balance, history, deletion."""

from __future__ import annotations

from app.auth.sessions import SessionService
from app.credits.service import CreditsService
from app.models import CreditLedgerEntry, User
from app.users.repository import UserRepository


class UserService:
    def __init__(
        self, users: UserRepository, credits: CreditsService, sessions: SessionService
    ) -> None:
        self.users = users
        self.credits = credits
        self.sessions = sessions

    async def update_profile(self, user: User, *, name: str | None) -> User:
        if name is not None:
            user.name = name
        await self.users.session.flush()
        await self.users.session.refresh(user)
        return user

    async def credit_history(
        self, user: User, *, page: int, limit: int
    ) -> tuple[list[CreditLedgerEntry], int]:
        return await self.credits.history(user.id, page=page, limit=limit)

    async def delete_account(self, user: User) -> None:
        """Ends every session, then removes the user; their rows go with them (cascades)."""
        await self.sessions.end_all(user.id, "account_deleted")
        await self.users.delete(user)
