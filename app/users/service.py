"""The signed-in user's own account: profile, picture, balance, history, deletion."""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.auth.sessions import SessionService
from app.core.background import AfterCommit
from app.core.config import Settings
from app.credits.service import CreditsService
from app.files.keys import user_prefix
from app.files.service import FileService
from app.integrations.storage import Storage
from app.models import CreditLedgerEntry, User
from app.users.repository import UserRepository
from app.users.schemas import UserRead

logger = logging.getLogger(__name__)


class UserService:
    def __init__(
        self,
        users: UserRepository,
        credits: CreditsService,
        sessions: SessionService,
        files: FileService,
        storage: Storage,
        settings: Settings,
        after_commit: Callable[[AfterCommit], None],
    ) -> None:
        self.users = users
        self.credits = credits
        self.sessions = sessions
        self.files = files
        self.storage = storage
        self.settings = settings
        self.after_commit = after_commit

    async def present(self, user: User) -> UserRead:
        """The /me shape; a stored picture becomes a fresh signed (or CDN) URL."""
        userpic = user.userpic
        if userpic and not userpic.startswith(("http://", "https://")):
            userpic = await self.storage.url_for(userpic)
        return UserRead(
            id=user.id,
            name=user.name,
            email=user.email,
            userpic=userpic,
            credits=user.credits,
            verified=user.verified,
            created_at=user.created_at,
        )

    async def update_profile(
        self, user: User, *, name: str | None, userpic_key: str | None
    ) -> UserRead:
        if name is not None:
            user.name = name
        if userpic_key is not None:
            upload = await self.files.ensure_checked(user.id, userpic_key)
            user.userpic = upload.key
        await self.users.session.flush()
        await self.users.session.refresh(user)
        return await self.present(user)

    async def set_picture(self, user: User, data: bytes) -> UserRead:
        user.userpic = await self.files.store_profile_picture(user, data)
        await self.users.session.flush()
        await self.users.session.refresh(user)
        return await self.present(user)

    async def credit_history(
        self, user: User, *, page: int, limit: int
    ) -> tuple[list[CreditLedgerEntry], int]:
        return await self.credits.history(user.id, page=page, limit=limit)

    async def delete_account(self, user: User) -> None:
        """Ends every session and removes the user (their rows go with them); once that has
        committed, their files are removed from storage."""
        user_id = user.id
        await self.sessions.end_all(user_id, "account_deleted")
        await self.users.delete(user)
        prefixes = [
            user_prefix(folder, user_id)
            for folder in (
                self.settings.UPLOADS_FOLDER,
                self.settings.GENERATED_IMAGES_FOLDER,
                self.settings.PROFILE_PICS_FOLDER,
            )
        ]

        async def remove_files() -> None:
            for prefix in prefixes:
                removed = await self.storage.delete_prefix(prefix)
                logger.info("removed %d objects under %s", removed, prefix)

        self.after_commit(remove_files)
