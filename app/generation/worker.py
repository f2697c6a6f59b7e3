"""The generation jobs. Each takes an image id, opens its own units of work, and is safe to
run more than once (JOB-06): a job is claimed by a conditional UPDATE with an owned lease,
results are stored before the row says `completed` (JOB-04), and only the one call that moves a
job to `failed` refunds it (exactly once, CR-04).

Leases are owned and fenced (JOB-09): each claim names its worker and increments the row's
fencing counter, a heartbeat renews the lease while the generator works, and completing,
failing or storing a result is refused to anyone but the holder of the current counter, so a
worker that paused past its lease (and was taken over) can no longer touch the job. A job
claimed `JOB_MAX_ATTEMPTS` times without ending (each attempt died with its worker) is given
up: failed with GENERATION_FAILED, refunded once and recorded in `dead_letters` (JOB-07).

Results are stored under keys derived from the job and the attempt (`result_keys.py`): a stale
attempt never overwrites the current one's object, and failing a job removes whatever any
attempt left."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import cast, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Database
from app.core.faults import Faults
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.generation.predictions import JobPrediction
from app.generation.repository import (
    DeadLetterRepository,
    ImageRepository,
    ImageViewRepository,
    Lease,
)
from app.generation.result_keys import ResultKeys
from app.generation.tasks import GENERATE_IMAGE, GENERATE_VIEWS
from app.integrations.generator import (
    GenerationFailed,
    GenerationRequest,
    GenerationResult,
    Generator,
    HairColour,
    PredictionSlot,
    ProviderBusy,
    StyleSpec,
    View,
)
from app.integrations.generator.port import Length, Texture
from app.integrations.storage import ObjectNotFound, Storage, StorageError
from app.models import CreditReason, DeadLetter, Image, ImageStatus, ImageView, Style, ViewsStatus
from app.styles.colors import KEEP, find_color

logger = logging.getLogger(__name__)

# Retries of a retryable generator failure within one attempt (not deliveries: those are
# JOB_MAX_ATTEMPTS).
MAX_ATTEMPTS = 3
# How a throttled job is put back: (delay_s, image_id, view_id or None, lease token); see
# predictions.py.
Deferral = Callable[[float, int, int | None, int], Awaitable[None]]
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
    # The person's colour choice: "keep" unless chosen; None only with a reference (its colour).
    hair_color: HairColour | None = field(default_factory=lambda: hair_colour(None))
    # "This haircut from a photo": the reference upload, instead of a style.
    reference_key: str | None = None
    # The fencing counter of this worker's lease, and which delivery this is (1-based).
    token: int = 0
    attempt: int = 0
    created_at: datetime | None = None


def now_utc() -> datetime:
    return datetime.now(UTC)


def default_worker_id() -> str:
    """Names the lease holder in the row and the logs: host, process, and a random part (a
    restarted process with a reused pid is another worker)."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}:{secrets.token_hex(4)}"


def hair_colour(color_id: str | None, *, has_reference: bool = False) -> HairColour | None:
    """The generator's view of an image's colour choice (None: the reference's own colour);
    an id no longer in the catalogue keeps the person's colour rather than failing a paid
    job."""
    if color_id is None and has_reference:
        return None
    colour = find_color(color_id or KEEP) or find_color(KEEP)
    assert colour is not None
    return HairColour(id=colour.id, name=colour.name, hex=colour.hex)


def job_spec(image: Image, style: Style | None) -> StyleSpec | None:
    """The style of a job: its catalogue style, or for a haircut from a photo a stand-in that
    only names it (the generators take the hair from the reference)."""
    if image.reference_key is not None:
        return StyleSpec(name=image.style_name, prompt=image.description, palette=("#3b2417",))
    return style_spec(style, image.style_name)


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
        worker_id: str | None = None,
        defer: Deferral | None = None,
    ) -> None:
        self.database = database
        self.defer = defer
        self.storage = storage
        self.generator = generator
        self.settings = settings
        self.lease = timedelta(seconds=settings.JOB_LEASE_S)
        self.max_attempts = settings.JOB_MAX_ATTEMPTS
        self.result_keys = ResultKeys.from_settings(settings)
        self.worker_id = worker_id or default_worker_id()
        self.faults = Faults.parse(settings.JOB_FAULTS)

    def _lease(self, now: datetime) -> Lease:
        return Lease(owner=self.worker_id, until=now + self.lease)

    # --- front image -------------------------------------------------------------------

    async def run_generation(self, image_id: int) -> None:
        job = await self.claim(image_id)
        if job is None:
            return  # finished, past its deadline, given up, or another worker holds it
        logger.info(
            "generation %s attempt %d/%d started on %s",
            image_id,
            job.attempt,
            self.max_attempts,
            self.worker_id,
        )
        if job.spec is None:
            await self.fail(
                image_id, GenerationFailed("GENERATION_FAILED", "The style is gone."), job=job
            )
            return
        try:
            async with self._heartbeat(job, self._renew_image):
                await self.faults.at("before_generate", job.image_id)
                result = await self._generate(
                    job,
                    job.spec,
                    job.input_key,
                    View.FRONT,
                    JobPrediction(self.database, job.image_id, token=job.token, faults=self.faults),
                )
                await self.faults.at("after_generate", job.image_id)
        except ProviderBusy as busy:
            await self._throttled(busy, job)
            return
        except GenerationFailed as failure:
            await self.fail(image_id, failure, job=job)
            return
        except asyncio.CancelledError:
            # The worker is stopping: the message goes back to the queue; so does the lease.
            await asyncio.shield(self._give_back(job))
            raise
        await self.finish(job, result)

    async def _throttled(self, busy: ProviderBusy, job: ClaimedJob) -> None:
        """The provider said "later" before starting anything: queue the job again instead
        of holding this worker, without counting the claim as an attempt (no deferral
        configured: fail it, refunded, as an outage)."""
        if self.defer is None:
            await self.fail(job.image_id, GenerationFailed("PROVIDER_UNAVAILABLE"), job=job)
            return
        await self.defer(busy.retry_after_s, job.image_id, None, job.token)

    async def _give_back(self, job: ClaimedJob) -> None:
        try:
            async with self.database.unit_of_work() as session:
                await ImageRepository(session).give_back(job.image_id, job.token, now_utc())
        except Exception:
            logger.warning("generation %s: could not give the lease back", job.image_id)
        logger.info(
            "generation %s attempt %d interrupted; lease given back", job.image_id, job.attempt
        )

    async def claim(self, image_id: int) -> ClaimedJob | None:
        """Take the job under this worker's lease; None when it is not ours to run. A free job
        with no attempts left is given up here (failed, refunded, dead-lettered)."""
        now = now_utc()
        async with self.database.unit_of_work() as session:
            images = ImageRepository(session)
            image = await images.claim(
                image_id, now, self._lease(now), max_attempts=self.max_attempts
            )
            if image is None:
                given_up = await self._give_up(session, image_id, now)
                job = None
            else:
                given_up = None
                style = await session.get(Style, image.style_id) if image.style_id else None
                has_reference = image.reference_key is not None
                job = ClaimedJob(
                    image_id=image.id,
                    user_id=image.user_id,
                    input_key=image.input_key,
                    output_key=image.output_key,
                    spec=job_spec(image, style),
                    deadline_at=image.deadline_at,
                    hair_color=hair_colour(image.hair_color, has_reference=has_reference),
                    reference_key=image.reference_key,
                    token=image.lease_token,
                    attempt=image.attempts,
                    created_at=image.created_at,
                )
        if given_up is not None:
            await self._remove_leftovers(self.result_keys.folder_of(given_up, image_id))
        return job

    async def give_up(self, image_id: int) -> bool:
        """Fail an exhausted front job (the sweeper's way in); True when this call did."""
        now = now_utc()
        async with self.database.unit_of_work() as session:
            owner = await self._give_up(session, image_id, now)
        if owner is None:
            return False
        await self._remove_leftovers(self.result_keys.folder_of(owner, image_id))
        return True

    async def _give_up(self, session: AsyncSession, image_id: int, now: datetime) -> int | None:
        given_up = await ImageRepository(session).give_up(
            image_id, now, max_attempts=self.max_attempts
        )
        if given_up is None:
            return None
        owner, attempts = given_up
        charge = Reference("image", image_id)
        await _credits(session, self.settings).refund(
            owner, 1, charge, charged=(CreditReason.GENERATION, charge)
        )
        await DeadLetterRepository(session).add(
            DeadLetter(
                task_name=GENERATE_IMAGE,
                image_id=image_id,
                attempts=attempts,
                error_code="GENERATION_FAILED",
            )
        )
        logger.error(
            "generation %s dead-lettered after %d attempts (each ended without an outcome); "
            "refunded",
            image_id,
            attempts,
        )
        return owner

    async def finish(self, job: ClaimedJob, result: GenerationResult) -> bool:
        """Store the result and complete the job, if this worker still holds its lease."""
        if not await self._still_holds(job):
            logger.warning(
                "generation %s attempt %d: lease taken over; result discarded",
                job.image_id,
                job.attempt,
            )
            return False
        key = self.result_keys.key(
            job.user_id, job.image_id, View.FRONT, result.content_type, attempt=job.token
        )
        # JOB-04: the result is in our storage before the row says completed.
        await self.storage.put(key, result.data, result.content_type)
        now = now_utc()
        # The whole wait the user had, from the request, not only this attempt.
        waited = (now - (job.created_at or now)).total_seconds()
        async with self.database.unit_of_work() as session:
            done = await ImageRepository(session).complete(
                job.image_id,
                job.token,
                key,
                now,
                time_taken=max(waited, 0.0),
                provider_id=result.provider_id,
            )
            row = None if done else await ImageRepository(session).get(job.image_id)
            # The webhook completed this same attempt (same key) first (JOB-05): keep it.
            kept = done or (row is not None and row.output_key == key)
        if not kept:
            # Taken over, failed or deleted meanwhile: nothing will ever show this object.
            await self.storage.delete(key)
        if not done:
            logger.warning(
                "generation %s attempt %d: no longer ours; result discarded",
                job.image_id,
                job.attempt,
            )
            return False
        await self._remove_earlier_attempts(job, View.FRONT)
        logger.info(
            "generation %s attempt %d completed after %.1f s",
            job.image_id,
            job.attempt,
            waited,
        )
        return True

    async def _still_holds(self, job: ClaimedJob) -> bool:
        async with self.database.unit_of_work(write=False) as session:
            return await ImageRepository(session).holds_lease(job.image_id, job.token)

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
            reference = await self.storage.get(job.reference_key) if job.reference_key else None
        except ObjectNotFound:
            raise GenerationFailed(
                "GENERATION_FAILED", "The source or reference photo is gone."
            ) from None
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
                hair_color=job.hair_color,
                reference_bytes=reference,
                reference_url=await self._reference_url(job, remaining),
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

    async def _reference_url(self, job: ClaimedJob, remaining: float) -> str | None:
        if job.reference_key is None:
            return None
        expires_in = max(self.settings.SIGNED_URL_EXPIRE_S, int(remaining) + 300)
        return await self.storage.url_for(job.reference_key, expires_in=expires_in)

    async def fail(
        self, image_id: int, failure: GenerationFailed, *, job: ClaimedJob | None = None
    ) -> bool:
        """Fail and refund the job. With `job`, only while that attempt's lease is current (a
        taken-over worker can neither fail nor refund it); without, whoever holds it (the
        sweeper). True when this call failed it."""
        async with self.database.unit_of_work() as session:
            owner = await ImageRepository(session).fail(
                image_id,
                failure.code,
                failure.message,
                now_utc(),
                token=job.token if job is not None else None,
            )
            if owner is not None:
                charge = Reference("image", image_id)
                await _credits(session, self.settings).refund(
                    owner, 1, charge, charged=(CreditReason.GENERATION, charge)
                )
        if owner is None:
            return False
        # What any attempt stored before it died (a failed image has no views yet).
        await self._remove_leftovers(self.result_keys.folder_of(owner, image_id))
        attempt = f" attempt {job.attempt}" if job is not None else ""
        logger.info("generation %s%s failed: %s", image_id, attempt, failure.code)
        return True

    async def _renew_image(self, job: ClaimedJob, view: ImageView | None) -> bool:
        async with self.database.unit_of_work() as session:
            return await ImageRepository(session).extend_lease(
                job.image_id, job.token, now_utc() + self.lease
            )

    async def _renew_view(self, job: ClaimedJob, view: ImageView | None) -> bool:
        assert view is not None
        async with self.database.unit_of_work() as session:
            return await ImageViewRepository(session).extend_lease(
                view.id, job.token, now_utc() + self.lease
            )

    @contextlib.asynccontextmanager
    async def _heartbeat(
        self,
        job: ClaimedJob,
        renew: Callable[[ClaimedJob, ImageView | None], Awaitable[bool]],
        view: ImageView | None = None,
    ) -> AsyncIterator[None]:
        """Renew the lease while the generator works, so a slow job is not taken over.

        A failed renewal (the database unreachable for a moment) is logged and tried again
        at the next beat; it never ends the job: the generation goes on and its result is
        kept if the lease is still ours when it is stored, which fencing decides (JOB-09).
        Once the lease was taken over the beat stops: renewing it is no longer ours to do."""
        what = f"generation {job.image_id}" + (f" view {view.view}" if view is not None else "")

        done = asyncio.Event()

        async def beat() -> None:
            # Stops between renewals, never inside one: cancelling a renewal mid-query would
            # throw its connection away (and, on a shared connection, break its transaction).
            while not await _stopped_within(done, self.lease.total_seconds() / 3):
                try:
                    await self.faults.at("heartbeat", job.image_id)
                    if not await renew(job, view):
                        logger.warning(
                            "%s attempt %d: lease taken over; heartbeat stops", what, job.attempt
                        )
                        return
                except Exception:
                    logger.warning(
                        "%s attempt %d: heartbeat failed; retrying at the next beat",
                        what,
                        job.attempt,
                        exc_info=True,
                    )

        task = asyncio.create_task(beat(), name=f"heartbeat {what}")
        try:
            yield
        finally:
            done.set()
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
            has_reference = image.reference_key is not None
            job = ClaimedJob(
                image_id=image.id,
                user_id=image.user_id,
                input_key=image.input_key,
                output_key=image.output_key,
                spec=job_spec(image, style),
                deadline_at=now_utc() + timedelta(seconds=self.settings.GENERATION_TIMEOUT_S),
                hair_color=hair_colour(image.hair_color, has_reference=has_reference),
                reference_key=image.reference_key,
            )
        # The three views run concurrently (SPEC §4); each is claimed and refunded on its own.
        await asyncio.gather(*(self._run_view(job, view) for view in views))
        await self.finish_views(image_id)

    async def _run_view(self, images_job: ClaimedJob, view: ImageView) -> None:
        job = await self.claim_view(images_job, view)
        if job is None:
            return
        assert job.output_key is not None
        logger.info(
            "generation %s view %s attempt %d/%d started on %s",
            job.image_id,
            view.view,
            job.attempt,
            self.max_attempts,
            self.worker_id,
        )
        try:
            if job.spec is None:
                raise GenerationFailed("GENERATION_FAILED", "The style is gone.")
            async with self._heartbeat(job, self._renew_view, view):
                await self.faults.at("before_generate", job.image_id)
                slot = JobPrediction(
                    self.database, job.image_id, view.id, token=job.token, faults=self.faults
                )
                result = await self._generate(job, job.spec, job.output_key, View(view.view), slot)
                await self.faults.at("after_generate", job.image_id)
        except ProviderBusy as busy:
            if self.defer is None:
                await self.fail_view(job.image_id, view, "PROVIDER_UNAVAILABLE", job=job)
            else:
                await self.defer(busy.retry_after_s, job.image_id, view.id, job.token)
            return
        except GenerationFailed as failure:
            await self.fail_view(job.image_id, view, failure.code, job=job)
            return
        await self.finish_view(job, view, result)

    async def claim_view(self, images_job: ClaimedJob, view: ImageView) -> ClaimedJob | None:
        now = now_utc()
        async with self.database.unit_of_work() as session:
            views = ImageViewRepository(session)
            token = await views.claim(
                view.id, now, self._lease(now), max_attempts=self.max_attempts
            )
            if token is not None:
                row = await session.get(ImageView, view.id, populate_existing=True)
                attempt = row.attempts if row is not None else 0
                return replace(images_job, token=token, attempt=attempt)
            attempts = await views.give_up(view.id, now, max_attempts=self.max_attempts)
            if attempts is None:
                return None
            image = await session.get(Image, images_job.image_id)
            if image is not None:
                await self._refund_view(session, image.user_id, images_job.image_id, view)
            await DeadLetterRepository(session).add(
                DeadLetter(
                    task_name=GENERATE_VIEWS,
                    image_id=images_job.image_id,
                    view=view.view,
                    attempts=attempts,
                    error_code="GENERATION_FAILED",
                )
            )
        logger.error(
            "generation %s view %s dead-lettered after %d attempts; refunded",
            images_job.image_id,
            view.view,
            attempts,
        )
        await self._remove_leftovers(
            self.result_keys.view_prefix(images_job.user_id, images_job.image_id, view.view)
        )
        return None

    async def finish_view(self, job: ClaimedJob, view: ImageView, result: GenerationResult) -> bool:
        async with self.database.unit_of_work(write=False) as session:
            ours = await ImageViewRepository(session).holds_lease(view.id, job.token)
        if not ours:
            logger.warning(
                "generation %s view %s attempt %d: lease taken over; result discarded",
                job.image_id,
                view.view,
                job.attempt,
            )
            return False
        key = self.result_keys.key(
            job.user_id, job.image_id, view.view, result.content_type, attempt=job.token
        )
        await self.storage.put(key, result.data, result.content_type)
        async with self.database.unit_of_work() as session:
            done = await ImageViewRepository(session).complete(view.id, job.token, key)
            if done:
                await ImageRepository(session).set_view_key(job.image_id, view.view, key)
            row = await session.get(ImageView, view.id, populate_existing=True)
            # The webhook completed this same attempt (same key) first (JOB-05): keep it.
            kept = done or (row is not None and row.output_key == key)
        if not kept:
            await self.storage.delete(key)
        if done:
            await self._remove_earlier_attempts(job, view.view)
        return done

    async def _remove_earlier_attempts(self, job: ClaimedJob, view: str) -> None:
        """Best effort, after the result is recorded: objects stored by attempts that died
        before completing (one result object per view stays)."""
        for key in self.result_keys.earlier_attempts(job.user_id, job.image_id, view, job.token):
            try:
                await self.storage.delete(key)
            except StorageError:
                logger.warning("could not remove %s left by an earlier attempt", key)

    async def fail_view(
        self, image_id: int, view: ImageView, code: str, *, job: ClaimedJob | None = None
    ) -> bool:
        async with self.database.unit_of_work() as session:
            token = job.token if job is not None else None
            if not await ImageViewRepository(session).fail(view.id, code, token=token):
                return False
            image = await session.get(Image, image_id)
            owner = image.user_id if image is not None else None
            if owner is not None:
                await self._refund_view(session, owner, image_id, view)
        if owner is not None:
            await self._remove_leftovers(self.result_keys.view_prefix(owner, image_id, view.view))
        logger.info("generation %s view %s failed: %s", image_id, view.view, code)
        return True

    async def _refund_view(
        self, session: AsyncSession, owner: int, image_id: int, view: ImageView
    ) -> None:
        await _credits(session, self.settings).refund(
            owner,
            1,
            Reference("view", f"{image_id}-{view.view}"),
            charged=(CreditReason.VIEW_GENERATION, Reference("image", image_id)),
        )

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


async def _stopped_within(done: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `done`; whether it was set."""
    try:
        await asyncio.wait_for(done.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
