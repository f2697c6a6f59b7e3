from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select

from app.core.repository import Repository, insert_on_conflict
from app.models import Image, ShareLink


class ShareLinkRepository(Repository[ShareLink]):
    model = ShareLink

    async def replace(self, image_id: int, token_hash: str, expires_at: datetime) -> None:
        """The image's one live link becomes this one: sharing again retires a leaked link.

        One upsert on the image's unique key: a delete then an insert let two shares of one
        image at once (a double click) both insert on PostgreSQL, and the second failed on the
        unique index. Now the later one waits for the earlier and replaces its token."""
        statement = insert_on_conflict(self.session, ShareLink).values(
            image_id=image_id, token_hash=token_hash, expires_at=expires_at
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[ShareLink.image_id],
                set_={
                    "token_hash": statement.excluded.token_hash,
                    "expires_at": statement.excluded.expires_at,
                    "created_at": func.now(),
                },
            )
        )

    async def revoke(self, image_id: int) -> None:
        await self.session.execute(delete(ShareLink).where(ShareLink.image_id == image_id))

    async def live_image(self, token_hash: str, now: datetime) -> Image | None:
        """The shared image, while its link is live and it still has a result."""
        return await self.session.scalar(
            select(Image)
            .join(ShareLink, ShareLink.image_id == Image.id)
            .where(
                ShareLink.token_hash == token_hash,
                ShareLink.expires_at > now,
                Image.output_key.is_not(None),
            )
        )
