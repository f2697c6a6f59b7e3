"""The person's privacy choices: their retention window (applied by app/privacy/purge.py)."""

from __future__ import annotations

from app.models import User
from app.privacy.schemas import PrivacyRead
from app.users.repository import UserRepository


class PrivacyService:
    def __init__(self, users: UserRepository) -> None:
        self.users = users

    def read(self, user: User) -> PrivacyRead:
        return PrivacyRead(retention_days=user.retention_days)

    async def set_retention(self, user: User, days: int | None) -> PrivacyRead:
        user.retention_days = days
        await self.users.session.flush()
        return self.read(user)
