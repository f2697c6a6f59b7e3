"""The generation jobs. Each takes an image id, opens its own units of work, and is safe to
run more than once (JOB-06): a job is claimed by a conditional UPDATE with a lease, results
are stored before the row says `completed` (JOB-04), and only the one call that moves a job to
`failed` refunds it (exactly once, CR-04).

Results are stored under keys derived from the job (`result_keys.py`): a retry after a crash
overwrites what the dead attempt stored, and failing a job removes whatever it left."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Database
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.generation.predictions import JobPrediction
from app.generation.repository import ImageRepository, ImageViewRepository
from app.generation.result_keys import ResultKeys
from app.integrations.generator import (
    GenerationFailed,
    GenerationRequest,
    GenerationResult,
    Generator,
    PredictionSlot,
    ProviderBusy,
    StyleSpec,
    View,
)
from app.integrations.generator.port import Length, Texture
from app.integrations.storage import ObjectNotFound, Storage, StorageError
from app.models import CreditReason, Image, ImageStatus, ImageView, Style, ViewsStatus

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# How a throttled job is put back: (delay_s, image_id, view_id or None); see predictions.py.
Deferral = Callable[[float, int, int | None], Awaitable[None]]
LENGTHS = frozenset(get_args(Length))
TEXTURES = frozenset(get_args(Texture))


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    image_id: int
    user_id: int
    input_key: str
    output_key: str | None
    spec: StyleSpec | None
    deadline_at: datetime


def now_utc() -> datetime:
    return datetime.now(UTC)


def style_spec(style: Style | None, fallback_name: str) -> StyleSpec | None:
    """The generator's view of a style; None when the style is gone or its palette is broken
    (the job then fails cleanly and is refunded)."""
    if style is None:
        return None
    palette = tuple(colour.strip() for colour in style.palette.split(",") if colour.strip())
    try:
        return _spec(style, fallback_name, palette)
    except ValueError:
        logger.error("style %s has an invalid palette %r", style.id, style.palette)
        return None


def _spec(style: Style, fallback_name: str, palette: tuple[str, ...]) -> StyleSpec:
    return StyleSpec(
        name=style.name or fallback_name,
        prompt=style.prompt,
        palette=palette,
        length=cast(Length, style.length) if style.length in LENGTHS else None,
        texture=cast(Texture, style.texture) if style.texture in TEXTURES else None,
    )


class GenerationWorker:
    def __init__(
        self,
        database: Database,
        storage: Storage,
        generator: Generator,
        settings: Settings,
        *,
        defer: Deferral | None = None,
    ) -> None:
        self.database = database
        self.defer = defer
        self.storage = storage
        self.generator = generator
        self.settings = settings
        self.lease = timedelta(seconds=settings.JOB_LEASE_S)
        self.result_keys = ResultKeys.from_settings(settings)

    # --- front image -------------------------------------------------------------------

    async def run_generation(self, image_id: int) -> None:
        job = await self._claim(image_id)
        if job is None:
            return  # finished, past its deadline, or another worker holds it
        started = time.monotonic()
        if job.spec is None:
            await self.fail(image_id, GenerationFailed("GENERATION_FAILED", "The style is gone."))
            return
        try:
            async with self._heartbeat(image_id):
                result = await self._generate(
                    job, job.spec, job.input_key, View.FRONT, JobPrediction(self.database, image_id)
                )
        except ProviderBusy as busy:
            await self._throttled(busy, image_id)
            return
        except GenerationFailed as failure:
            await self.fail(image_id, failure)
            return
        key = self.result_keys.key(job.user_id, image_id, View.FRONT, result.content_type)
        # JOB-04: the result is in our storage before the row says completed.
        await self.storage.put(key, result.data, result.content_type)
        async with self.database.unit_of_work() as session:
            images = ImageRepository(session)
            done = await images.complete(image_id, key, now_utc(), time.monotonic() - started)
            image = await images.get(image_id)
            if done and result.provider_id and image is not None:
                image.provider_prediction_id = result.provider_id
            # A duplicate delivery that finished first wrote this same key (JOB-05): keep it.
            kept = done or (image is not None and image.output_key == key)
        if not kept:
            # Deleted or failed meanwhile: nothing will ever show this object.
            await self.storage.delete(key)

    async def _claim(self, image_id: int) -> ClaimedJob | None:
        now = now_utc()
        async with self.database.unit_of_work() as session:
            image = await ImageRepository(session).claim(image_id, now, now + self.lease)
            if image is None:
                return None
            style = await session.get(Style, image.style_id) if image.style_id else None
            return ClaimedJob(
                image_id=image.id,
                user_id=image.user_id,
                input_key=image.input_key,
                output_key=image.output_key,
                spec=style_spec(style, image.style_name),
                deadline_at=image.deadline_at,
            )

    async def _throttled(self, busy: ProviderBusy, image_id: int) -> None:
        """The provider said "later" before starting anything: queue the job again instead
        of holding this worker (no deferral configured: fail it, refunded, as an outage)."""
        if self.defer is None:
            await self.fail(image_id, GenerationFailed("PROVIDER_UNAVAILABLE"))
            return
        await self.defer(busy.retry_after_s, image_id, None)

    async def _generate(
        self,
        job: ClaimedJob,
        spec: StyleSpec,
        source_key: str,
        view: View,
        slot: PredictionSlot | None = None,
    ) -> GenerationResult:
        try:
            source = await self.storage.get(source_key)
        except ObjectNotFound:
            raise GenerationFailed("GENERATION_FAILED", "The source photo is gone.") from None
        last: GenerationFailed | None = None
        for attempt in range(MAX_ATTEMPTS):
            remaining = (job.deadline_at - now_utc()).total_seconds()
            if remaining <= 0:
                raise GenerationFailed("GENERATION_TIMEOUT")
            request = GenerationRequest(
                style=spec,
                view=view,
                deadline_s=remaining,
                image_bytes=source,
                # A remote model may fetch it only when its queue lets the prediction start:
                # the URL must outlive the job's remaining deadline.
                image_url=await self.storage.url_for(
                    source_key,
                    expires_in=max(self.settings.SIGNED_URL_EXPIRE_S, int(remaining) + 300),
                ),
                seed=job.image_id,
                prediction=slot,
            )
            try:
                return await self.generator.generate(request)
            except GenerationFailed as failure:
                if not failure.retryable:
                    raise
                last = failure
                await asyncio.sleep(min(2**attempt, 10))
        assert last is not None
        raise last

    async def fail(self, image_id: int, failure: GenerationFailed) -> None:
        async with self.database.unit_of_work() as session:
            owner = await ImageRepository(session).fail(
                image_id, failure.code, failure.message, now_utc()
            )
            if owner is not None:
                charge = Reference("image", image_id)
                await _credits(session, self.settings).refund(
                    owner, 1, charge, charged=(CreditReason.GENERATION, charge)
                )
        if owner is not None:
            # What an attempt stored before it died (a failed image has no views yet).
            await self._remove_leftovers(self.result_keys.folder_of(owner, image_id))
        logger.info("generation %s failed: %s", image_id, failure.code)

    @contextlib.asynccontextmanager
    async def _heartbeat(self, image_id: int) -> AsyncIterator[None]:
        """Renew the lease while the generator works, so a slow job is not taken over."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.lease.total_seconds() / 3)
                async with self.database.unit_of_work() as session:
                    await ImageRepository(session).extend_lease(image_id, now_utc() + self.lease)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- side views --------------------------------------------------------------------

    async def run_views(self, image_id: int) -> None:
        async with self.database.unit_of_work() as session:
            images = ImageRepository(session)
            image = await images.get(image_id)
            if image is None or image.output_key is None:
                return
            await images.mark_views_processing(image_id)
            views = list(await ImageViewRepository(session).for_image(image_id))
            style = await session.get(Style, image.style_id) if image.style_id else None
            job = ClaimedJob(
                image_id=image.id,
                user_id=image.user_id,
                input_key=image.input_key,
                output_key=image.output_key,
                spec=style_spec(style, image.style_name),
                deadline_at=now_utc() + timedelta(seconds=self.settings.GENERATION_TIMEOUT_S),
            )
        # The three views run concurrently (SPEC §4); each is claimed and refunded on its own.
        await asyncio.gather(*(self._run_view(job, view) for view in views))
        await self.finish_views(image_id)

    async def _run_view(self, job: ClaimedJob, view: ImageView) -> None:
        now = now_utc()
        async with self.database.unit_of_work() as session:
            if not await ImageViewRepository(session).claim(view.id, now, now + self.lease):
                return
        assert job.output_key is not None
        try:
            if job.spec is None:
                raise GenerationFailed("GENERATION_FAILED", "The style is gone.")
            slot = JobPrediction(self.database, job.image_id, view.id)
            result = await self._generate(job, job.spec, job.output_key, View(view.view), slot)
        except ProviderBusy as busy:
            if self.defer is None:
                await self.fail_view(job.image_id, view, "PROVIDER_UNAVAILABLE")
            else:
                await self.defer(busy.retry_after_s, job.image_id, view.id)
            return
        except GenerationFailed as failure:
            await self.fail_view(job.image_id, view, failure.code)
            return
        key = self.result_keys.key(job.user_id, job.image_id, view.view, result.content_type)
        await self.storage.put(key, result.data, result.content_type)
        async with self.database.unit_of_work() as session:
            done = await ImageViewRepository(session).complete(view.id, key)
            if done:
                await ImageRepository(session).set_view_key(job.image_id, view.view, key)
            row = await session.get(ImageView, view.id, populate_existing=True)
            kept = done or (row is not None and row.output_key == key)
        if not kept:
            await self.storage.delete(key)

    async def fail_view(self, image_id: int, view: ImageView, code: str) -> None:
        async with self.database.unit_of_work() as session:
            if not await ImageViewRepository(session).fail(view.id, code):
                return
            image = await session.get(Image, image_id)
            owner = image.user_id if image is not None else None
            if owner is not None:
                await _credits(session, self.settings).refund(
                    owner,
                    1,
                    Reference("view", f"{image_id}-{view.view}"),
                    charged=(CreditReason.VIEW_GENERATION, Reference("image", image_id)),
                )
        if owner is not None:
            await self._remove_leftovers(self.result_keys.view_prefix(owner, image_id, view.view))

    async def _remove_leftovers(self, prefix: str) -> None:
        """Best effort: the failure and its refund are committed already; an object left by a
        storage outage here is removed with the image or the account."""
        try:
            await self.storage.delete_prefix(prefix)
        except StorageError:
            logger.warning("could not remove leftover results under %s", prefix, exc_info=True)

    async def finish_views(self, image_id: int) -> None:
        async with self.database.unit_of_work() as session:
            views = await ImageViewRepository(session).for_image(image_id)
            states = {view.status for view in views}
            if not views or states & {ImageStatus.PENDING, ImageStatus.PROCESSING}:
                return
            if states == {ImageStatus.COMPLETED}:
                outcome = ViewsStatus.COMPLETED
            elif states == {ImageStatus.FAILED}:
                outcome = ViewsStatus.FAILED
            else:
                outcome = ViewsStatus.PARTIAL
            await ImageRepository(session).finish_views(image_id, outcome)


def _credits(session: AsyncSession, settings: Settings) -> CreditsService:
    return CreditsService(
        CreditLedgerRepository(
            session, unsafe_read_modify_write=settings.CREDITS_UNSAFE_READ_MODIFY_WRITE
        )
    )
