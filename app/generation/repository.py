"""Queries over images (the generation jobs), their side views and idempotency keys.
State changes are conditional UPDATEs so that duplicated or late reports cannot move a job
backwards (JOB-05)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.repository import live_session
from app.core.repository import Repository
from app.models import (
    AuthSession,
    IdempotencyKey,
    Image,
    ImageStatus,
    ImageView,
    ViewsStatus,
)


class ImageRepository(Repository[Image]):
    model = Image

    async def get_owned(self, image_id: int, user_id: int) -> Image | None:
        return await self.session.scalar(
            select(Image).where(Image.id == image_id, Image.user_id == user_id)
        )

    async def get_for_session(self, image_id: int, session_id: str, now: datetime) -> Image | None:
        """The status hot path: the image, only if the caller's session is live and owns it,
        in one indexed read (no user row)."""
        return await self.session.scalar(
            select(Image)
            .join(AuthSession, AuthSession.user_id == Image.user_id)
            .where(Image.id == image_id, live_session(session_id, now))
        )

    def _owned(self, user_id: int, favourites: bool) -> Select[Any]:
        query = select(Image).where(Image.user_id == user_id)
        return query.where(Image.liked.is_(True)) if favourites else query

    async def list_for_owner(
        self, user_id: int, *, favourites: bool, newest_first: bool, offset: int, limit: int
    ) -> list[Image]:
        order = Image.id.desc() if newest_first else Image.id.asc()
        rows = await self.session.scalars(
            self._owned(user_id, favourites).order_by(order).offset(offset).limit(limit)
        )
        return list(rows)

    async def count_for_owner(self, user_id: int, *, favourites: bool) -> int:
        query = self._owned(user_id, favourites).with_only_columns(func.count(Image.id))
        return int(await self.session.scalar(query) or 0)

    async def recent_input_keys(self, user_id: int, limit: int) -> list[str]:
        rows = await self.session.execute(
            select(Image.input_key, func.max(Image.id).label("last"))
            .where(Image.user_id == user_id)
            .group_by(Image.input_key)
            .order_by(func.max(Image.id).desc())
            .limit(limit)
        )
        return [row[0] for row in rows]

    async def claim(self, image_id: int, now: datetime, lease_until: datetime) -> Image | None:
        """Take the job for this worker: pending, or processing with an expired lease
        (its worker died). None when someone else holds it or it has finished."""
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                (Image.status == ImageStatus.PENDING)
                | ((Image.status == ImageStatus.PROCESSING) & (Image.lease_until < now)),
                Image.deadline_at > now,
            )
            .values(
                status=ImageStatus.PROCESSING,
                lease_until=lease_until,
                attempts=Image.attempts + 1,
                started_at=func.coalesce(Image.started_at, now),
            )
            .returning(Image.id)
        )
        if result.scalar_one_or_none() is None:
            return None
        return await self.session.scalar(
            select(Image).where(Image.id == image_id).execution_options(populate_existing=True)
        )

    async def complete(
        self, image_id: int, output_key: str, now: datetime, time_taken: float
    ) -> bool:
        result = await self.session.execute(
            update(Image)
            .where(Image.id == image_id, Image.status == ImageStatus.PROCESSING)
            .values(
                status=ImageStatus.COMPLETED,
                output_key=output_key,
                completed_at=now,
                time_taken=time_taken,
                lease_until=None,
            )
            .returning(Image.id)
        )
        return result.scalar_one_or_none() is not None

    async def fail(self, image_id: int, code: str, message: str, now: datetime) -> int | None:
        """Pending or processing → failed; the owner's id when this call failed it."""
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                Image.status.in_([ImageStatus.PENDING, ImageStatus.PROCESSING]),
                # While side views run the front is finished: it is never failed for them.
                Image.views_status == ViewsStatus.NONE,
            )
            .values(
                status=ImageStatus.FAILED,
                error_code=code,
                error_message=message[:500],
                completed_at=now,
                lease_until=None,
            )
            .returning(Image.user_id)
        )
        return result.scalar_one_or_none()

    async def requeue_failed(self, image_id: int, deadline_at: datetime) -> bool:
        """A failed front image back to pending with a new deadline (the admin's retry); only
        from `failed`, so a running or finished job is never restarted."""
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                Image.status == ImageStatus.FAILED,
                Image.views_status == ViewsStatus.NONE,
            )
            .values(
                status=ImageStatus.PENDING,
                error_code=None,
                error_message=None,
                completed_at=None,
                started_at=None,
                lease_until=None,
                attempts=0,
                deadline_at=deadline_at,
            )
            .returning(Image.id)
        )
        return result.scalar_one_or_none() is not None

    async def release(self, image_id: int) -> None:
        """Give a processing job back (a retryable failure) for the next delivery."""
        await self.session.execute(
            update(Image)
            .where(Image.id == image_id, Image.status == ImageStatus.PROCESSING)
            .values(status=ImageStatus.PENDING, lease_until=None)
        )

    async def defer(self, image_id: int) -> bool:
        """Give a processing job back because the provider throttled us before it started
        anything: pending again, and the claim it used does not count as an attempt."""
        result = await self.session.execute(
            update(Image)
            .where(Image.id == image_id, Image.status == ImageStatus.PROCESSING)
            .values(status=ImageStatus.PENDING, lease_until=None, attempts=Image.attempts - 1)
            .returning(Image.id)
        )
        return result.scalar_one_or_none() is not None

    async def set_prediction(self, image_id: int, prediction_id: str) -> None:
        await self.session.execute(
            update(Image)
            .where(Image.id == image_id, Image.status == ImageStatus.PROCESSING)
            .values(provider_prediction_id=prediction_id)
        )

    async def prediction_of(self, image_id: int) -> str | None:
        return await self.session.scalar(
            select(Image.provider_prediction_id).where(Image.id == image_id)
        )

    async def by_prediction(self, prediction_id: str) -> Image | None:
        return await self.session.scalar(
            select(Image).where(Image.provider_prediction_id == prediction_id).limit(1)
        )

    async def complete_prediction(
        self, image_id: int, prediction_id: str, output_key: str, now: datetime
    ) -> bool:
        """processing → completed by the prediction the job is waiting for (a webhook): a
        report about an older prediction of the job, or a second report, changes nothing."""
        image = await self.session.get(Image, image_id, populate_existing=True)
        started = image.started_at if image is not None else None
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                Image.status == ImageStatus.PROCESSING,
                Image.views_status == ViewsStatus.NONE,
                Image.provider_prediction_id == prediction_id,
            )
            .values(
                status=ImageStatus.COMPLETED,
                output_key=output_key,
                completed_at=now,
                time_taken=(now - started).total_seconds() if started else None,
                lease_until=None,
            )
            .returning(Image.id)
        )
        return result.scalar_one_or_none() is not None

    async def overdue_ids(self, now: datetime, limit: int) -> list[int]:
        rows = await self.session.scalars(
            select(Image.id)
            .where(
                Image.status.in_([ImageStatus.PENDING, ImageStatus.PROCESSING]),
                Image.views_status == ViewsStatus.NONE,
                Image.deadline_at <= now,
            )
            .limit(limit)
        )
        return list(rows)

    async def resumable_ids(self, now: datetime, pending_before: datetime, limit: int) -> list[int]:
        """Front jobs nobody is working on: pending since before `pending_before`, or
        processing past their lease."""
        rows = await self.session.scalars(
            select(Image.id)
            .where(
                Image.views_status == ViewsStatus.NONE,
                ((Image.status == ImageStatus.PENDING) & (Image.created_at <= pending_before))
                | ((Image.status == ImageStatus.PROCESSING) & (Image.lease_until < now)),
                Image.deadline_at > now,
            )
            .order_by(Image.id)
            .limit(limit)
        )
        return list(rows)

    async def with_views_running(self, limit: int) -> list[int]:
        rows = await self.session.scalars(
            select(Image.id)
            .where(Image.views_status.in_([ViewsStatus.PENDING, ViewsStatus.PROCESSING]))
            .order_by(Image.id)
            .limit(limit)
        )
        return list(rows)

    async def extend_lease(self, image_id: int, lease_until: datetime) -> None:
        await self.session.execute(
            update(Image)
            .where(Image.id == image_id, Image.status == ImageStatus.PROCESSING)
            .values(lease_until=lease_until)
        )

    async def set_view_key(self, image_id: int, view: str, key: str) -> None:
        column = {"right": "right_view_key", "left": "left_view_key", "back": "back_view_key"}
        await self.session.execute(
            update(Image).where(Image.id == image_id).values({column[view]: key})
        )

    async def begin_views(self, image_id: int) -> bool:
        """completed with no views → processing with views pending, atomically (two
        concurrent requests cannot both start, nor both pay)."""
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                Image.status == ImageStatus.COMPLETED,
                Image.views_status == ViewsStatus.NONE,
            )
            .values(status=ImageStatus.PROCESSING, views_status=ViewsStatus.PENDING)
            .returning(Image.id)
        )
        return result.scalar_one_or_none() is not None

    async def finish_views(self, image_id: int, views_status: str) -> bool:
        """Views done: the image is `completed` again (its front result never changed)."""
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                Image.views_status.in_([ViewsStatus.PENDING, ViewsStatus.PROCESSING]),
            )
            .values(views_status=views_status, status=ImageStatus.COMPLETED)
            .returning(Image.id)
        )
        return result.scalar_one_or_none() is not None

    async def mark_views_processing(self, image_id: int) -> None:
        await self.session.execute(
            update(Image)
            .where(Image.id == image_id, Image.views_status == ViewsStatus.PENDING)
            .values(views_status=ViewsStatus.PROCESSING)
        )


class ImageViewRepository(Repository[ImageView]):
    model = ImageView

    async def for_image(self, image_id: int) -> list[ImageView]:
        rows = await self.session.scalars(
            select(ImageView).where(ImageView.image_id == image_id).order_by(ImageView.id)
        )
        return list(rows)

    async def for_images(self, image_ids: list[int]) -> list[ImageView]:
        if not image_ids:
            return []
        rows = await self.session.scalars(
            select(ImageView).where(ImageView.image_id.in_(image_ids))
        )
        return list(rows)

    async def claim(self, view_id: int, now: datetime, lease_until: datetime) -> bool:
        result = await self.session.execute(
            update(ImageView)
            .where(
                ImageView.id == view_id,
                (ImageView.status == ImageStatus.PENDING)
                | ((ImageView.status == ImageStatus.PROCESSING) & (ImageView.lease_until < now)),
            )
            .values(status=ImageStatus.PROCESSING, lease_until=lease_until)
            .returning(ImageView.id)
        )
        return result.scalar_one_or_none() is not None

    async def complete(self, view_id: int, output_key: str) -> bool:
        result = await self.session.execute(
            update(ImageView)
            .where(ImageView.id == view_id, ImageView.status == ImageStatus.PROCESSING)
            .values(status=ImageStatus.COMPLETED, output_key=output_key, lease_until=None)
            .returning(ImageView.id)
        )
        return result.scalar_one_or_none() is not None

    async def release(self, view_id: int) -> bool:
        """processing → pending (the provider throttled us; the view is queued again)."""
        result = await self.session.execute(
            update(ImageView)
            .where(ImageView.id == view_id, ImageView.status == ImageStatus.PROCESSING)
            .values(status=ImageStatus.PENDING, lease_until=None)
            .returning(ImageView.id)
        )
        return result.scalar_one_or_none() is not None

    async def set_prediction(self, view_id: int, prediction_id: str) -> None:
        await self.session.execute(
            update(ImageView)
            .where(ImageView.id == view_id, ImageView.status == ImageStatus.PROCESSING)
            .values(provider_prediction_id=prediction_id)
        )

    async def prediction_of(self, view_id: int) -> str | None:
        return await self.session.scalar(
            select(ImageView.provider_prediction_id).where(ImageView.id == view_id)
        )

    async def by_prediction(self, prediction_id: str) -> ImageView | None:
        return await self.session.scalar(
            select(ImageView).where(ImageView.provider_prediction_id == prediction_id).limit(1)
        )

    async def complete_prediction(self, view_id: int, prediction_id: str, output_key: str) -> bool:
        result = await self.session.execute(
            update(ImageView)
            .where(
                ImageView.id == view_id,
                ImageView.status == ImageStatus.PROCESSING,
                ImageView.provider_prediction_id == prediction_id,
            )
            .values(status=ImageStatus.COMPLETED, output_key=output_key, lease_until=None)
            .returning(ImageView.id)
        )
        return result.scalar_one_or_none() is not None

    async def overdue(self, created_before: datetime, limit: int) -> list[ImageView]:
        rows = await self.session.scalars(
            select(ImageView)
            .where(
                ImageView.status.in_([ImageStatus.PENDING, ImageStatus.PROCESSING]),
                ImageView.created_at <= created_before,
            )
            .limit(limit)
        )
        return list(rows)

    async def fail(self, view_id: int, code: str) -> bool:
        result = await self.session.execute(
            update(ImageView)
            .where(
                ImageView.id == view_id,
                ImageView.status.in_([ImageStatus.PENDING, ImageStatus.PROCESSING]),
            )
            .values(status=ImageStatus.FAILED, error_code=code, lease_until=None)
            .returning(ImageView.id)
        )
        return result.scalar_one_or_none() is not None


class IdempotencyRepository(Repository[IdempotencyKey]):
    model = IdempotencyKey

    async def get_for_user(self, user_id: int, key: str) -> IdempotencyKey | None:
        return await self.session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
            )
        )

    async def claim(self, record: IdempotencyKey) -> bool:
        """Insert the key; False when a concurrent request with the same key holds it (the
        unique index makes us wait for that request's transaction, then refuse)."""
        try:
            async with self.session.begin_nested():
                self.session.add(record)
                await self.session.flush()
        except IntegrityError:
            return False
        return True
