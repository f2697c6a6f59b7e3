"""The person's privacy choices: their retention window (applied by app/privacy/purge.py) and
deleting all their images and uploads at once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.core.background import AfterCommit
from app.integrations.storage import Storage
from app.models import User
from app.privacy.repository import PrivacyRepository
from app.privacy.schemas import DeletedRead, PrivacyRead
from app.users.repository import UserRepository

logger = logging.getLogger(__name__)


class PrivacyService:
    def __init__(
        self,
        users: UserRepository,
        privacy: PrivacyRepository,
        storage: Storage,
        generated_prefix: Callable[[int], str],
        after_commit: Callable[[AfterCommit], None],
    ) -> None:
        self.users = users
        self.privacy = privacy
        self.storage = storage
        self.generated_prefix = generated_prefix
        self.after_commit = after_commit

    def read(self, user: User) -> PrivacyRead:
        return PrivacyRead(retention_days=user.retention_days)

    async def set_retention(self, user: User, days: int | None) -> PrivacyRead:
        user.retention_days = days
        await self.users.session.flush()
        return self.read(user)

    async def delete_everything(self, user: User) -> DeletedRead:
        """Every image (running ones too, like DELETE /image/{id}: their job finds no row and
        discards its result) and every upload but the one in use as the profile picture.
        Rows now, objects once that has committed, like every other deletion a person asks
        for: nothing is shown again that they deleted, even if storage is slow."""
        keys = await self.privacy.all_image_keys(user.id)
        images = await self.privacy.delete_all_images(user.id)
        uploads = await self.privacy.uploads_but_the_picture(user.id)
        for upload in uploads:
            keys.append(upload.key)
            if upload.presigned_key and upload.presigned_key != upload.key:
                keys.append(upload.presigned_key)
        await self.privacy.delete_uploads([upload.id for upload in uploads])
        # The user's whole results folder: every image's folder, orphans of crashed attempts.
        results = self.generated_prefix(user.id)

        async def remove_files() -> None:
            for key in keys:
                await self.storage.delete(key)
            removed = await self.storage.delete_prefix(results)
            logger.info("removed %d objects and the %d left under %s", len(keys), removed, results)

        self.after_commit(remove_files)
        return DeletedRead(images_deleted=images, uploads_deleted=len(uploads))
