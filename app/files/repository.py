from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from app.core.repository import Repository
from app.models import Upload, UploadStatus


class UploadRepository(Repository[Upload]):
    model = Upload

    async def get_by_key(self, key: str) -> Upload | None:
        return await self.session.scalar(select(Upload).where(Upload.key == key))

    async def mark_ready(
        self, upload_id: int, *, content_type: str, size: int, width: int, height: int
    ) -> None:
        await self.session.execute(
            update(Upload)
            .where(Upload.id == upload_id)
            .values(
                status=UploadStatus.READY,
                content_type=content_type,
                size=size,
                width=width,
                height=height,
            )
        )

    async def remember_face(self, upload_id: int, has_face: bool) -> None:
        await self.session.execute(
            update(Upload).where(Upload.id == upload_id).values(has_face=has_face)
        )

    async def list_created_before(self, cutoff: datetime, limit: int) -> list[Upload]:
        rows = await self.session.scalars(
            select(Upload).where(Upload.created_at < cutoff).order_by(Upload.id).limit(limit)
        )
        return list(rows)

    async def delete_ids(self, ids: list[int]) -> None:
        await self.session.execute(delete(Upload).where(Upload.id.in_(ids)))
