"""The queries behind retention and delete-all: whose files are due, and which rows go."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    CreditLedgerEntry,
    Image,
    ImageStatus,
    ImageView,
    PaymentAttempt,
    PaymentRefund,
    ShareLink,
    Transaction,
    Upload,
    User,
)

# A job still running keeps its row: the worker owns it until it finishes or times out.
_FINISHED = (ImageStatus.COMPLETED, ImageStatus.FAILED)


class PrivacyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def retention_windows(self, after_user_id: int, limit: int) -> list[tuple[int, int]]:
        """(user id, retention days) of people who chose a window, by id from `after_user_id`."""
        rows = await self.session.execute(
            select(User.id, User.retention_days)
            .where(User.retention_days.is_not(None), User.id > after_user_id)
            .order_by(User.id)
            .limit(limit)
        )
        return [(user_id, days) for user_id, days in rows if days is not None]

    async def finished_images(
        self,
        user_id: int,
        limit: int,
        *,
        created_before: datetime | None = None,
        after_id: int = 0,
    ) -> list[Image]:
        query = select(Image).where(
            Image.user_id == user_id, Image.status.in_(_FINISHED), Image.id > after_id
        )
        if created_before is not None:
            query = query.where(Image.created_at < created_before)
        return list(await self.session.scalars(query.order_by(Image.id).limit(limit)))

    async def unused_uploads(
        self,
        user_id: int,
        limit: int,
        *,
        created_before: datetime | None = None,
        after_id: int = 0,
    ) -> list[Upload]:
        """The person's uploads that are not their profile picture and not the input or the
        haircut reference of one of their images that still exists (they go with it)."""
        query = select(Upload).where(
            Upload.user_id == user_id, ~_upload_in_use(user_id), Upload.id > after_id
        )
        if created_before is not None:
            query = query.where(Upload.created_at < created_before)
        return list(await self.session.scalars(query.order_by(Upload.id).limit(limit)))

    async def all_image_keys(self, user_id: int) -> list[str]:
        """Every result key of the person's images (the image folders hold the rest)."""
        rows = await self.session.execute(
            select(
                Image.output_key, Image.right_view_key, Image.left_view_key, Image.back_view_key
            ).where(Image.user_id == user_id)
        )
        return [key for row in rows for key in row if key]

    async def delete_all_images(self, user_id: int) -> int:
        result = await self.session.execute(
            delete(Image).where(Image.user_id == user_id).returning(Image.id)
        )
        return len(result.all())

    async def uploads_but_the_picture(self, user_id: int) -> list[Upload]:
        picture = exists().where(User.id == user_id, User.userpic == Upload.key)
        return list(
            await self.session.scalars(
                select(Upload).where(Upload.user_id == user_id, ~picture).order_by(Upload.id)
            )
        )

    async def delete_finished_images(self, ids: list[int]) -> int:
        """Those of `ids` still finished (one started again meanwhile stays); how many went.
        Views and share links go with them (ON DELETE CASCADE)."""
        result = await self.session.execute(
            delete(Image).where(Image.id.in_(ids), Image.status.in_(_FINISHED)).returning(Image.id)
        )
        return len(result.all())

    async def delete_unused_uploads(self, user_id: int, ids: list[int]) -> int:
        """Those of `ids` still unused (one put in use meanwhile stays); how many went."""
        result = await self.session.execute(
            delete(Upload)
            .where(Upload.id.in_(ids), Upload.user_id == user_id, ~_upload_in_use(user_id))
            .returning(Upload.id)
        )
        return len(result.all())

    async def delete_uploads(self, ids: list[int]) -> None:
        await self.session.execute(delete(Upload).where(Upload.id.in_(ids)))


def _upload_in_use(user_id: int) -> ColumnElement[bool]:
    """An upload of `user_id` that is their profile picture, or the input or the haircut
    reference of one of their images that still exists."""
    return or_(
        exists().where(User.id == user_id, User.userpic == Upload.key),
        exists().where(Image.user_id == user_id, Image.input_key == Upload.key),
        exists().where(Image.user_id == user_id, Image.reference_key == Upload.key),
    )


class ExportRepository:
    """Every row of one person, for their export (SPEC §4a)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def rows(self, user_id: int) -> dict[str, list[Any]]:
        images = await self._all(select(Image).where(Image.user_id == user_id).order_by(Image.id))
        image_ids = [image.id for image in images]
        transactions = await self._all(
            select(Transaction).where(Transaction.user_id == user_id).order_by(Transaction.id)
        )
        transaction_ids = [transaction.id for transaction in transactions]
        return {
            "credit_ledger": await self._all(
                select(CreditLedgerEntry)
                .where(CreditLedgerEntry.user_id == user_id)
                .order_by(CreditLedgerEntry.id)
            ),
            "transactions": transactions,
            "payment_attempts": await self._all(
                select(PaymentAttempt)
                .where(PaymentAttempt.transaction_id.in_(transaction_ids))
                .order_by(PaymentAttempt.id)
            ),
            "payment_refunds": await self._all(
                select(PaymentRefund)
                .where(PaymentRefund.transaction_id.in_(transaction_ids))
                .order_by(PaymentRefund.id)
            ),
            "images": images,
            "image_views": await self._all(
                select(ImageView).where(ImageView.image_id.in_(image_ids)).order_by(ImageView.id)
            ),
            "share_links": await self._all(
                select(ShareLink).where(ShareLink.image_id.in_(image_ids)).order_by(ShareLink.id)
            ),
            "uploads": await self._all(
                select(Upload).where(Upload.user_id == user_id).order_by(Upload.id)
            ),
        }

    async def _all(self, query: Select[Any]) -> list[Any]:
        return list(await self.session.scalars(query))
