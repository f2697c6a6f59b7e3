"""Queries over images (the generation jobs), their side views and idempotency keys.
State changes are conditional UPDATEs so that duplicated or late reports cannot move a job
backwards (JOB-05)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    Text,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.expression import Executable

from app.auth.repository import live_session
from app.core.db import WRITES_OPTION, DriverStatement
from app.core.repository import Repository, dialect_insert
from app.models import (
    AuthSession,
    DeadLetter,
    IdempotencyKey,
    Image,
    ImageStatus,
    ImageView,
    PhotoCheck,
    Style,
    Upload,
    ViewsStatus,
)

# The columns the status answer needs, in its order (no user row, no lease or provider columns).
STATUS_COLUMNS = (
    Image.id,
    Image.status,
    Image.views_status,
    Image.description,
    Image.output_key,
    Image.right_view_key,
    Image.left_view_key,
    Image.back_view_key,
    Image.error_code,
    Image.error_message,
)


class StatusQueries:
    """The status poll's statements, built once per process and run on an autocommit read
    connection: the image, only if the caller's session is live and its user owns the image,
    is one indexed read; the session is looked at on its own only when that read finds
    nothing, to tell a revoked session (401) from a missing image (404).

    On PostgreSQL they run on the asyncpg connection of `Database.driver_read()`, compiled once
    for it; on SQLite through SQLAlchemy on `Database.read()`."""

    def __init__(self, dialect: Dialect | None = None) -> None:
        session_id: BindParameter[str] = bindparam("session_id")
        now: BindParameter[datetime] = bindparam("now")
        self._image = (
            select(*STATUS_COLUMNS)
            .join(AuthSession, AuthSession.user_id == Image.user_id)
            .where(Image.id == bindparam("image_id"), live_session(session_id, now))
        )
        self._live = select(AuthSession.id).where(
            live_session(session_id, now), AuthSession.user_id == bindparam("user_id")
        )
        self.on_driver = dialect is not None and dialect.name == "postgresql"
        if self.on_driver:
            assert dialect is not None
            self._driver_image = DriverStatement.compile(self._image, dialect)
            self._driver_live = DriverStatement.compile(self._live, dialect)

    async def image(
        self, connection: AsyncConnection, image_id: int, session_id: str, now: datetime
    ) -> Sequence[Any] | None:
        result = await connection.execute(
            self._image, {"image_id": image_id, "session_id": session_id, "now": now}
        )
        return result.first()

    async def session_is_live(
        self, connection: AsyncConnection, session_id: str, user_id: int, now: datetime
    ) -> bool:
        result = await connection.execute(
            self._live, {"session_id": session_id, "user_id": user_id, "now": now}
        )
        return result.first() is not None

    async def driver_image(
        self, connection: Any, image_id: int, session_id: str, now: datetime
    ) -> Sequence[Any] | None:
        """`image()` on an asyncpg connection (`on_driver` only)."""
        statement = self._driver_image
        params = {"image_id": image_id, "session_id": session_id, "now": now}
        row: Sequence[Any] | None = await connection.fetchrow(
            statement.sql, *statement.args(params)
        )
        return row

    async def driver_session_is_live(
        self, connection: Any, session_id: str, user_id: int, now: datetime
    ) -> bool:
        statement = self._driver_live
        params = {"session_id": session_id, "user_id": user_id, "now": now}
        return await connection.fetchrow(statement.sql, *statement.args(params)) is not None


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's claim on a job: who holds it and until when (renewed by its heartbeat)."""

    owner: str
    until: datetime


def _free(now: datetime) -> ColumnElement[bool]:
    """Nobody works on the job: pending, or processing past its lease."""
    return (Image.status == ImageStatus.PENDING) | (
        (Image.status == ImageStatus.PROCESSING)
        & (Image.lease_until.is_(None) | (Image.lease_until < now))
    )


def _view_free(now: datetime) -> ColumnElement[bool]:
    return (ImageView.status == ImageStatus.PENDING) | (
        (ImageView.status == ImageStatus.PROCESSING)
        & (ImageView.lease_until.is_(None) | (ImageView.lease_until < now))
    )


def _queue_lapsed(now: datetime) -> ColumnElement[bool]:
    return Image.queued_until.is_(None) | (Image.queued_until < now)


class ImageRepository(Repository[Image]):
    model = Image

    async def insert_job(self, **values: Any) -> int:
        """A new job row from its column values; its id. A core INSERT ... RETURNING: the
        accept needs only the id, not an object in the session's unit of work (a flush)."""
        inserted = await self.session.execute(_INSERT_JOB, values)
        return int(inserted.scalar_one())

    async def discard(self, image_id: int) -> None:
        """Drop a job row this transaction inserted and must not keep."""
        await self.session.execute(
            delete(Image).where(Image.id == image_id).execution_options(synchronize_session=False)
        )

    async def get_owned(self, image_id: int, user_id: int) -> Image | None:
        return await self.session.scalar(
            select(Image).where(Image.id == image_id, Image.user_id == user_id)
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

    async def claim(
        self, image_id: int, now: datetime, lease: Lease, *, max_attempts: int
    ) -> Image | None:
        """Take the job for `lease.owner`: pending, or processing with a lapsed lease (its
        worker died), and tried fewer than `max_attempts` times. The fencing counter goes up,
        so whoever held it before can no longer complete or fail it (JOB-09). None when
        someone else holds it, it has finished, or it is exhausted (see `give_up`)."""
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                _free(now),
                Image.deadline_at > now,
                Image.attempts < max_attempts,
            )
            .values(
                status=ImageStatus.PROCESSING,
                lease_until=lease.until,
                lease_owner=lease.owner,
                lease_token=Image.lease_token + 1,
                attempts=Image.attempts + 1,
                # The message that brought it here has been taken: once this lease lapses,
                # the sweeper may queue it again at once.
                queued_until=None,
                started_at=func.coalesce(Image.started_at, now),
            )
            .returning(Image.id)
        )
        if result.scalar_one_or_none() is None:
            return None
        return await self.session.scalar(
            select(Image).where(Image.id == image_id).execution_options(populate_existing=True)
        )

    async def give_up(
        self, image_id: int, now: datetime, *, max_attempts: int
    ) -> tuple[int, int] | None:
        """A free job already tried `max_attempts` times (each attempt died with its worker):
        failed with GENERATION_FAILED. (owner, attempts) when this call failed it."""
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                _free(now),
                Image.views_status == ViewsStatus.NONE,
                Image.attempts >= max_attempts,
            )
            .values(
                status=ImageStatus.FAILED,
                error_code="GENERATION_FAILED",
                error_message="The generation failed repeatedly and was stopped.",
                completed_at=now,
                lease_until=None,
                lease_owner=None,
                queued_until=None,
            )
            .returning(Image.user_id, Image.attempts)
        )
        row = result.one_or_none()
        return (row[0], row[1]) if row is not None else None

    async def complete(
        self,
        image_id: int,
        token: int,
        output_key: str,
        now: datetime,
        *,
        time_taken: float,
        provider_id: str | None,
    ) -> bool:
        """processing → completed, only for the holder of the current lease (JOB-09)."""
        values: dict[str, Any] = {
            "status": ImageStatus.COMPLETED,
            "output_key": output_key,
            "completed_at": now,
            "time_taken": time_taken,
            "lease_until": None,
            "lease_owner": None,
            "queued_until": None,
        }
        if provider_id:
            values["provider_prediction_id"] = provider_id
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                Image.status == ImageStatus.PROCESSING,
                Image.lease_token == token,
            )
            .values(values)
            .returning(Image.id)
        )
        return result.scalar_one_or_none() is not None

    async def fail(
        self, image_id: int, code: str, message: str, now: datetime, *, token: int | None = None
    ) -> int | None:
        """Pending or processing → failed; the owner's id when this call failed it. With a
        `token`, only while that lease is current (a worker failing its own attempt); without,
        whoever holds it (the sweeper failing an overdue job)."""
        fenced = () if token is None else (Image.lease_token == token,)
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                Image.status.in_([ImageStatus.PENDING, ImageStatus.PROCESSING]),
                # While side views run the front is finished: it is never failed for them.
                Image.views_status == ViewsStatus.NONE,
                *fenced,
            )
            .values(
                status=ImageStatus.FAILED,
                error_code=code,
                error_message=message[:500],
                completed_at=now,
                lease_until=None,
                lease_owner=None,
                queued_until=None,
            )
            .returning(Image.user_id)
        )
        return result.scalar_one_or_none()

    async def requeue_failed(
        self, image_id: int, deadline_at: datetime, *, queued_until: datetime | None = None
    ) -> bool:
        """A failed front image back to pending with a new deadline (the admin's retry); only
        from `failed`, so a running or finished job is never restarted. Its attempts start
        again from zero (JOB_MAX_ATTEMPTS counts anew); the fencing counter keeps counting, so
        a worker of an earlier attempt still cannot touch it."""
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
                lease_owner=None,
                # The message the caller queues: the sweeper queues another only past this.
                queued_until=queued_until,
                provider_prediction_id=None,
                attempts=0,
                deadline_at=deadline_at,
            )
            .returning(Image.id)
        )
        return result.scalar_one_or_none() is not None

    async def defer(
        self, image_id: int, *, token: int | None = None, queued_until: datetime | None = None
    ) -> bool:
        """Give a processing job back because the provider throttled us before it started
        anything: pending again, and the claim it used does not count as an attempt (a
        throttled account's jobs never reach JOB_MAX_ATTEMPTS). With `token`, only while that
        lease is current."""
        fenced = () if token is None else (Image.lease_token == token,)
        result = await self.session.execute(
            update(Image)
            .where(Image.id == image_id, Image.status == ImageStatus.PROCESSING, *fenced)
            .values(
                status=ImageStatus.PENDING,
                lease_until=None,
                lease_owner=None,
                attempts=Image.attempts - 1,
                queued_until=queued_until,
            )
            .returning(Image.id)
        )
        return result.scalar_one_or_none() is not None

    async def set_prediction(
        self, image_id: int, prediction_id: str, *, token: int | None = None
    ) -> None:
        fenced = () if token is None else (Image.lease_token == token,)
        await self.session.execute(
            update(Image)
            .where(Image.id == image_id, Image.status == ImageStatus.PROCESSING, *fenced)
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
        report about an older prediction of the job, or a second report, changes nothing.
        No lease is needed: the prediction id is the fence here (a new attempt that created
        another prediction replaced it)."""
        image = await self.session.get(Image, image_id, populate_existing=True)
        created = image.created_at if image is not None else None
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
                # The user's whole wait, from the request (as `complete`).
                time_taken=max((now - created).total_seconds(), 0.0) if created else None,
                lease_until=None,
                lease_owner=None,
                queued_until=None,
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

    async def exhausted_ids(self, now: datetime, max_attempts: int, limit: int) -> list[int]:
        """Free front jobs with no attempts left (see `give_up`)."""
        rows = await self.session.scalars(
            select(Image.id)
            .where(
                Image.views_status == ViewsStatus.NONE,
                _free(now),
                Image.attempts >= max_attempts,
                Image.deadline_at > now,
            )
            .order_by(Image.id)
            .limit(limit)
        )
        return list(rows)

    async def requeue_lapsed(
        self, now: datetime, queued_until: datetime, max_attempts: int, limit: int
    ) -> list[int]:
        """Front jobs nobody works on and no queued message will reach: free (pending, or
        processing past its lease) and past their queue lease. Marks them queued until
        `queued_until` in the same statement, so two sweepers never both take one (JOB-08);
        the caller queues exactly the ids returned."""
        candidates = select(Image.id).where(
            Image.views_status == ViewsStatus.NONE,
            _free(now),
            _queue_lapsed(now),
            Image.attempts < max_attempts,
            Image.deadline_at > now,
        )
        return await self._mark_queued(candidates, now, queued_until, limit)

    async def requeue_views_lapsed(
        self, now: datetime, queued_until: datetime, limit: int
    ) -> list[int]:
        """Images whose side views wait (a view pending, or processing past its lease) with no
        queued message left for them; marked queued until `queued_until`."""
        waiting = (
            select(ImageView.id)
            .where(
                ImageView.image_id == Image.id,
                (ImageView.status == ImageStatus.PENDING)
                | (
                    (ImageView.status == ImageStatus.PROCESSING)
                    & ((ImageView.lease_until.is_(None)) | (ImageView.lease_until < now))
                ),
            )
            .exists()
        )
        candidates = select(Image.id).where(
            Image.views_status.in_([ViewsStatus.PENDING, ViewsStatus.PROCESSING]),
            waiting,
            _queue_lapsed(now),
        )
        return await self._mark_queued(candidates, now, queued_until, limit)

    async def _mark_queued(
        self, candidates: Select[Any], now: datetime, queued_until: datetime, limit: int
    ) -> list[int]:
        ids = list(await self.session.scalars(candidates.order_by(Image.id).limit(limit)))
        if not ids:
            return []
        result = await self.session.execute(
            update(Image)
            .where(Image.id.in_(ids), _queue_lapsed(now))
            .values(queued_until=queued_until)
            .returning(Image.id)
        )
        return sorted(result.scalars())

    async def mark_queued(self, image_id: int, queued_until: datetime) -> None:
        await self.session.execute(
            update(Image).where(Image.id == image_id).values(queued_until=queued_until)
        )

    async def resumable_ids(self, now: datetime, limit: int) -> list[int]:
        """At start-up of an embedded queue (whose messages died with the last process): front
        jobs nobody is working on, whatever their queue lease."""
        rows = await self.session.scalars(
            select(Image.id)
            .where(Image.views_status == ViewsStatus.NONE, _free(now), Image.deadline_at > now)
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

    async def extend_lease(self, image_id: int, token: int, lease_until: datetime) -> bool:
        """Renew the lease while it is still ours; False once someone took the job over."""
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                Image.status == ImageStatus.PROCESSING,
                Image.lease_token == token,
            )
            .values(lease_until=lease_until)
            .returning(Image.id)
        )
        return result.scalar_one_or_none() is not None

    async def give_back(self, image_id: int, token: int, now: datetime) -> None:
        """End our lease now (a worker stopping mid-job): the next delivery may claim it at
        once instead of waiting for the lease to lapse. The interrupted attempt is not counted:
        a job must not be dead-lettered because deployments restarted its workers."""
        await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                Image.status == ImageStatus.PROCESSING,
                Image.lease_token == token,
            )
            .values(lease_until=now, lease_owner=None, attempts=Image.attempts - 1)
        )

    async def holds_lease(self, image_id: int, token: int) -> bool:
        found = await self.session.scalar(
            select(Image.id).where(
                Image.id == image_id,
                Image.status == ImageStatus.PROCESSING,
                Image.lease_token == token,
            )
        )
        return found is not None

    async def set_view_key(self, image_id: int, view: str, key: str) -> None:
        column = {"right": "right_view_key", "left": "left_view_key", "back": "back_view_key"}
        await self.session.execute(
            update(Image).where(Image.id == image_id).values({column[view]: key})
        )

    async def begin_views(self, image_id: int, queued_until: datetime) -> bool:
        """completed with no views → processing with views pending, atomically (two
        concurrent requests cannot both start, nor both pay)."""
        result = await self.session.execute(
            update(Image)
            .where(
                Image.id == image_id,
                Image.status == ImageStatus.COMPLETED,
                Image.views_status == ViewsStatus.NONE,
            )
            .values(
                status=ImageStatus.PROCESSING,
                views_status=ViewsStatus.PENDING,
                queued_until=queued_until,
            )
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

    async def claim(
        self, view_id: int, now: datetime, lease: Lease, *, max_attempts: int
    ) -> int | None:
        """Take the view for `lease.owner` (as `ImageRepository.claim`); its fencing token."""
        result = await self.session.execute(
            update(ImageView)
            .where(ImageView.id == view_id, _view_free(now), ImageView.attempts < max_attempts)
            .values(
                status=ImageStatus.PROCESSING,
                lease_until=lease.until,
                lease_owner=lease.owner,
                lease_token=ImageView.lease_token + 1,
                attempts=ImageView.attempts + 1,
            )
            .returning(ImageView.lease_token)
        )
        token = result.scalar_one_or_none()
        return int(token) if token is not None else None

    async def give_up(self, view_id: int, now: datetime, *, max_attempts: int) -> int | None:
        """A free view already tried `max_attempts` times: failed; its attempts if this call
        failed it."""
        result = await self.session.execute(
            update(ImageView)
            .where(ImageView.id == view_id, _view_free(now), ImageView.attempts >= max_attempts)
            .values(
                status=ImageStatus.FAILED,
                error_code="GENERATION_FAILED",
                lease_until=None,
                lease_owner=None,
            )
            .returning(ImageView.attempts)
        )
        attempts = result.scalar_one_or_none()
        return int(attempts) if attempts is not None else None

    async def extend_lease(self, view_id: int, token: int, lease_until: datetime) -> bool:
        result = await self.session.execute(
            update(ImageView)
            .where(
                ImageView.id == view_id,
                ImageView.status == ImageStatus.PROCESSING,
                ImageView.lease_token == token,
            )
            .values(lease_until=lease_until)
            .returning(ImageView.id)
        )
        return result.scalar_one_or_none() is not None

    async def holds_lease(self, view_id: int, token: int) -> bool:
        found = await self.session.scalar(
            select(ImageView.id).where(
                ImageView.id == view_id,
                ImageView.status == ImageStatus.PROCESSING,
                ImageView.lease_token == token,
            )
        )
        return found is not None

    async def complete(self, view_id: int, token: int, output_key: str) -> bool:
        result = await self.session.execute(
            update(ImageView)
            .where(
                ImageView.id == view_id,
                ImageView.status == ImageStatus.PROCESSING,
                ImageView.lease_token == token,
            )
            .values(
                status=ImageStatus.COMPLETED,
                output_key=output_key,
                lease_until=None,
                lease_owner=None,
            )
            .returning(ImageView.id)
        )
        return result.scalar_one_or_none() is not None

    async def release(self, view_id: int, *, token: int | None = None) -> bool:
        """processing → pending (the provider throttled us; the view is queued again); the
        claim does not count as an attempt. With `token`, only while that lease is current."""
        fenced = () if token is None else (ImageView.lease_token == token,)
        result = await self.session.execute(
            update(ImageView)
            .where(ImageView.id == view_id, ImageView.status == ImageStatus.PROCESSING, *fenced)
            .values(
                status=ImageStatus.PENDING,
                lease_until=None,
                lease_owner=None,
                attempts=ImageView.attempts - 1,
            )
            .returning(ImageView.id)
        )
        return result.scalar_one_or_none() is not None

    async def set_prediction(
        self, view_id: int, prediction_id: str, *, token: int | None = None
    ) -> None:
        fenced = () if token is None else (ImageView.lease_token == token,)
        await self.session.execute(
            update(ImageView)
            .where(ImageView.id == view_id, ImageView.status == ImageStatus.PROCESSING, *fenced)
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
            .values(
                status=ImageStatus.COMPLETED,
                output_key=output_key,
                lease_until=None,
                lease_owner=None,
            )
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

    async def fail(self, view_id: int, code: str, *, token: int | None = None) -> bool:
        """As `ImageRepository.fail`: fenced by `token` when a worker fails its own attempt."""
        fenced = () if token is None else (ImageView.lease_token == token,)
        result = await self.session.execute(
            update(ImageView)
            .where(
                ImageView.id == view_id,
                ImageView.status.in_([ImageStatus.PENDING, ImageStatus.PROCESSING]),
                *fenced,
            )
            .values(status=ImageStatus.FAILED, error_code=code, lease_until=None, lease_owner=None)
            .returning(ImageView.id)
        )
        return result.scalar_one_or_none() is not None


class DeadLetterRepository(Repository[DeadLetter]):
    model = DeadLetter

    async def list_recent(self, limit: int) -> list[DeadLetter]:
        """For the admin: the jobs given up most recently first."""
        rows = await self.session.scalars(
            select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
        )
        return list(rows)


@dataclass(frozen=True, slots=True)
class AcceptRead:
    """What accepting a generation reads before it writes: the request's idempotency key, the
    active style it names and the upload it names with that upload's stored photo check (each
    None when there is none, or when the request names none)."""

    known: IdempotencyKey | None
    style: Style | None
    upload: tuple[Upload, PhotoCheck | None] | None


class AcceptRepository:
    """The accept's reads as one statement: each is an outer join from a one-row select, on a
    condition of its own, so a missing row leaves only its own columns NULL. One round trip
    (and one ORM result) instead of three."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def read(
        self,
        user_id: int,
        *,
        idempotency_key: str | None,
        style_id: int | None,
        upload_key: str | None,
    ) -> AcceptRead:
        statement = _accept_read(
            idempotency_key is not None, style_id is not None, bool(upload_key)
        )
        params = {
            "user_id": user_id,
            "idempotency_key": idempotency_key,
            "style_id": style_id,
            "upload_key": upload_key,
        }
        known, style, upload, check = (await self.session.execute(statement, params)).one()
        return AcceptRead(known, style, None if upload is None else (upload, check))


@functools.cache
def _accept_read(
    with_key: bool, with_style: bool, with_upload: bool
) -> Select[IdempotencyKey, Style, Upload, PhotoCheck]:
    """The read for the parts a request names, built once per process (a statement built per
    request costs more CPU than its round trip: coercions and its cache key); the values are
    bound at execution."""
    one = select(literal(1).label("one")).subquery("one")
    key_matches = (
        and_(
            IdempotencyKey.user_id == bindparam("user_id"),
            IdempotencyKey.key == bindparam("idempotency_key"),
        )
        if with_key
        else false()
    )
    style_matches = (
        and_(Style.id == bindparam("style_id"), Style.is_active.is_(True))
        if with_style
        else false()
    )
    upload_key: BindParameter[str] = bindparam("upload_key")
    upload_matches = (
        or_(Upload.key == upload_key, Upload.presigned_key == upload_key)
        if with_upload
        else false()
    )
    return (
        select(IdempotencyKey, Style, Upload, PhotoCheck)
        .select_from(one)
        .outerjoin(IdempotencyKey, key_matches)
        .outerjoin(Style, style_matches)
        .outerjoin(Upload, upload_matches)
        .outerjoin(PhotoCheck, PhotoCheck.upload_id == Upload.id)
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """An idempotency key to claim with the job row, and its answer: the text around the job's
    id (`answer_prefix` + id + `answer_suffix`), since the id is drawn by the INSERT."""

    user_id: int
    key: str
    request_hash: str
    answer_prefix: str
    answer_suffix: str

    def answer(self, image_id: int) -> str:
        return f"{self.answer_prefix}{image_id}{self.answer_suffix}"


class JobWrites:
    """The accept's job row and the key that answers with it, as one statement on PostgreSQL:
    the key's INSERT takes the id from the job's (data-modifying CTEs), one round trip instead
    of two. SQLite, which has no data-modifying CTEs, runs the two INSERTs."""

    def __init__(self, images: ImageRepository, idempotency: IdempotencyRepository) -> None:
        self.images = images
        self.idempotency = idempotency

    async def insert(self, values: dict[str, Any], claim: KeyClaim) -> tuple[int, bool]:
        """The new job's id, and whether the key was claimed (False: a concurrent request
        holds it; this job row must then be discarded)."""
        session = self.images.session
        if session.get_bind().dialect.name != "postgresql":
            image_id = await self.images.insert_job(**values)
            record = await self.idempotency.claim(
                claim.user_id, claim.key, claim.request_hash, claim.answer(image_id)
            )
            return image_id, record is not None
        params = {
            **values,
            "key_user_id": claim.user_id,
            "key": claim.key,
            "request_hash": claim.request_hash,
            "answer_prefix": claim.answer_prefix,
            "answer_suffix": claim.answer_suffix,
        }
        row = (await session.execute(_job_with_key(), params)).one()
        return int(row.image_id), row.key_id is not None


# What the accept writes into its job row, bound at execution.
JOB_COLUMNS = (
    "user_id",
    "style_id",
    "style_name",
    "description",
    "input_key",
    "reference_key",
    "hair_color",
    "status",
    "deadline_at",
    "queued_until",
)


@functools.cache
def _job_with_key() -> Select[int, int | None]:
    """`JobWrites.insert`'s PostgreSQL statement, built once per process."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    table = Image.__table__
    job = (
        insert(Image)
        .values({name: bindparam(name, type_=table.c[name].type) for name in JOB_COLUMNS})
        .returning(Image.id)
        .cte("job")
    )
    keys = IdempotencyKey.__table__
    answer = func.concat(
        bindparam("answer_prefix", type_=Text), job.c.id, bindparam("answer_suffix", type_=Text)
    )
    row = select(
        bindparam("key_user_id", type_=keys.c.user_id.type),
        bindparam("key", type_=keys.c.key.type),
        bindparam("request_hash", type_=keys.c.request_hash.type),
        answer,
    ).select_from(job)
    key = (
        pg_insert(IdempotencyKey)
        .from_select(["user_id", "key", "request_hash", "response_json"], row)
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyKey.id)
        .cte("claimed")
    )
    return (
        select(
            job.c.id.label("image_id"),
            select(key.c.id).scalar_subquery().label("key_id"),
        )
        .select_from(job)
        .execution_options(**{WRITES_OPTION: True})
    )


class IdempotencyRepository(Repository[IdempotencyKey]):
    model = IdempotencyKey

    async def get_for_user(self, user_id: int, key: str) -> IdempotencyKey | None:
        return await self.session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
            )
        )

    async def claim(
        self, user_id: int, key: str, request_hash: str, response_json: str
    ) -> int | None:
        """Insert the key with its answer, in the transaction of the work it answers for; its
        id, or None when a concurrent request holds it (on PostgreSQL the unique index makes
        us wait for that request's transaction). The conflict is skipped rather than raised,
        so no savepoint is needed: one round trip."""
        statement = _claim_key(self.session.get_bind().dialect.name)
        params = {
            "user_id": user_id,
            "key": key,
            "request_hash": request_hash,
            "response_json": response_json,
        }
        found: int | None = (await self.session.execute(statement, params)).scalar_one_or_none()
        return found

    async def forget(self, record_id: int) -> None:
        """Drop a stale key; a concurrent request that dropped it first is no error."""
        await self.session.execute(
            delete(IdempotencyKey)
            .where(IdempotencyKey.id == record_id)
            .execution_options(synchronize_session=False)
        )


@functools.cache
def _claim_key(dialect: str) -> Executable:
    """The key's INSERT ... ON CONFLICT DO NOTHING, built once per dialect; "raw": executed as
    the statement it is with the values bound (with parameters the ORM would otherwise run
    it as a bulk insert of mapped rows)."""
    return (
        dialect_insert(dialect, IdempotencyKey)
        .values(
            user_id=bindparam("user_id"),
            key=bindparam("key"),
            request_hash=bindparam("request_hash"),
            response_json=bindparam("response_json"),
        )
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyKey.id)
        .execution_options(dml_strategy="raw")
    )


# The accept's job row: the columns come with the values at execution ("raw": as a plain
# INSERT, not the ORM's bulk insert of mapped rows).
_INSERT_JOB = insert(Image).returning(Image.id).execution_options(dml_strategy="raw")
