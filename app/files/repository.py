from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, or_, select, update

from app.core.repository import Repository
from app.models import Image, PhotoCheck, Upload, UploadStatus, User


class UploadRepository(Repository[Upload]):
    model = Upload

    async def get_by_key(self, key: str) -> Upload | None:
        """The upload a client names by its key or by the key of its presigned form."""
        return await self.session.scalar(
            select(Upload).where(or_(Upload.key == key, Upload.presigned_key == key)).limit(1)
        )

    async def get_by_key_with_check(self, key: str) -> tuple[Upload, PhotoCheck | None] | None:
        """`get_by_key` with the upload's stored photo check, if any, in the same round trip:
        a generation needs both, and the check is usually stored by then."""
        row = (
            await self.session.execute(
                select(Upload, PhotoCheck)
                .outerjoin(PhotoCheck, PhotoCheck.upload_id == Upload.id)
                .where(or_(Upload.key == key, Upload.presigned_key == key))
                .limit(1)
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    async def mark_ready(
        self,
        upload_id: int,
        *,
        key: str,
        content_type: str,
        size: int,
        width: int,
        height: int,
    ) -> bool:
        """Pending → ready with its checked copy at `key`; False when another request checked
        it first (its copy wins)."""
        result = await self.session.execute(
            update(Upload)
            .where(Upload.id == upload_id, Upload.status == UploadStatus.PENDING)
            .values(
                key=key,
                status=UploadStatus.READY,
                content_type=content_type,
                size=size,
                width=width,
                height=height,
            )
            .returning(Upload.id)
        )
        return result.scalar_one_or_none() is not None

    async def list_unused_created_before(
        self, cutoff: datetime, limit: int, *, after_id: int = 0
    ) -> list[Upload]:
        """Uploads older than `cutoff` that nothing uses: no user's profile picture and no
        input or reference photo of an image that still exists."""
        rows = await self.session.scalars(
            select(Upload)
            .where(Upload.created_at < cutoff, ~_in_use(), Upload.id > after_id)
            .order_by(Upload.id)
            .limit(limit)
        )
        return list(rows)

    async def delete_unused(self, ids: list[int]) -> int:
        """Those of `ids` still unused (one put in use meanwhile stays); how many went."""
        result = await self.session.execute(
            delete(Upload).where(Upload.id.in_(ids), ~_in_use()).returning(Upload.id)
        )
        return len(result.all())


def _in_use() -> ColumnElement[bool]:
    return or_(
        exists().where(User.userpic == Upload.key),
        exists().where(Image.input_key == Upload.key),
        exists().where(Image.reference_key == Upload.key),
    )
