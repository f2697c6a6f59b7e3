from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from app.core.repository import Repository
from app.models import Image, ShareLink


class ShareLinkRepository(Repository[ShareLink]):
    model = ShareLink

    async def replace(self, image_id: int, token_hash: str, expires_at: datetime) -> None:
        """The image's one live link becomes this one: sharing again retires a leaked link."""
        await self.session.execute(delete(ShareLink).where(ShareLink.image_id == image_id))
        self.session.add(ShareLink(image_id=image_id, token_hash=token_hash, expires_at=expires_at))
        await self.session.flush()

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
