"""Google profile pictures copied into our storage (SPEC §1): clients get our signed URLs,
never a third-party link that tracks them or disappears."""

from __future__ import annotations

import logging

from sqlalchemy import update

from app.core.config import Settings
from app.core.db import Database
from app.files.intake import ImagePolicy, process_image_async
from app.files.keys import user_key
from app.integrations.fetcher import FetchFailed, FetchRefused, SafeFetcher
from app.integrations.storage import Storage
from app.models import User

logger = logging.getLogger(__name__)
GOOGLE_PICTURE_HOSTS = frozenset({".googleusercontent.com"})


class GooglePictureCopier:
    def __init__(
        self,
        database: Database,
        storage: Storage,
        fetcher: SafeFetcher,
        policy: ImagePolicy,
        settings: Settings,
    ) -> None:
        self.database = database
        self.storage = storage
        self.fetcher = fetcher
        self.policy = policy
        self.settings = settings

    async def copy(self, user_id: int, url: str) -> bool:
        """Fetch, check and store the picture, then point the user at it, unless they have
        chosen another picture meanwhile. Failures keep Google's URL and are logged."""
        try:
            fetched = await self.fetcher.fetch(url)
            image = await process_image_async(fetched.data, self.policy)
        except (FetchRefused, FetchFailed, ValueError) as exc:
            logger.warning("Google picture for user %s not copied: %s", user_id, exc)
            return False
        except Exception:
            logger.exception("Google picture for user %s not copied", user_id)
            return False
        key = user_key(self.settings.PROFILE_PICS_FOLDER, user_id, image.content_type)
        await self.storage.put(key, image.data, image.content_type)
        async with self.database.unit_of_work() as session:
            result = await session.execute(
                update(User)
                .where(User.id == user_id, User.userpic == url)
                .values(userpic=key)
                .returning(User.id)
            )
            moved = result.scalar_one_or_none() is not None
        if not moved:
            await self.storage.delete(key)
        return moved
