"""Starting generations: the credit is taken, the job row written and the idempotency answer
stored in one transaction; the job is queued only once that transaction has committed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from app.core.background import AfterCommit
from app.core.config import Settings
from app.core.db import checkpoint, release
from app.credits.service import CreditsService, Reference
from app.files.exceptions import ForeignImage, ImageNotFound
from app.files.repository import UploadRepository
from app.files.service import FileService
from app.generation.exceptions import (
    ColorNotFound,
    IdempotencyKeyReused,
    ImageNotReady,
    StyleNotFound,
    ViewsExist,
)
from app.generation.inputs import key_from_reference
from app.generation.repository import (
    AcceptRepository,
    IdempotencyRepository,
    ImageRepository,
    ImageViewRepository,
    JobWrites,
    KeyClaim,
)
from app.generation.tasks import GENERATE_IMAGE, GENERATE_VIEWS
from app.jobs.port import JobQueue
from app.models import (
    CreditReason,
    IdempotencyKey,
    ImageStatus,
    ImageView,
    PhotoCheck,
    SideView,
    Style,
    Upload,
    UploadStatus,
    User,
    ViewsStatus,
)
from app.photos.measurements import PhotoMeasurements
from app.photos.repository import stored_measurements
from app.photos.service import PhotoCheckService
from app.styles.colors import KEEP, find_color

IDEMPOTENCY_WINDOW = timedelta(hours=24)
VIEW_COST = len(SideView)


# How a haircut from a photo shows in the history and the status (`style_name`,
# `description`): there is no catalogue style to name.
REFERENCE_NAME = "Haircut from a photo"
REFERENCE_DESCRIPTION = "The haircut of your reference photo, tried on your selfie."


@dataclass(frozen=True, slots=True)
class _Look:
    """Where the hair of a new job comes from: a catalogue style or a reference upload."""

    style_id: int | None
    name: str
    description: str
    reference_key: str | None


@dataclass(frozen=True, slots=True)
class StartedJob:
    image_id: int
    message: str


STARTED_MESSAGE = "Generation started; poll /image/status/{id}."


def _around_id(message: str) -> tuple[str, str]:
    """The stored answer's text before and after the job's id (the write draws the id): the
    same text as `json.dumps(asdict(StartedJob(id, message)))`."""
    marker = 9_007_199_254_740_993
    prefix, suffix = json.dumps(asdict(StartedJob(marker, message))).split(str(marker))
    return prefix, suffix


_ANSWER_AROUND_ID = _around_id(STARTED_MESSAGE)


class GenerationService:
    def __init__(
        self,
        *,
        images: ImageRepository,
        accepts: AcceptRepository,
        job_writes: JobWrites,
        views: ImageViewRepository,
        idempotency: IdempotencyRepository,
        uploads: UploadRepository,
        files: FileService,
        credits: CreditsService,
        photos: PhotoCheckService,
        queue: JobQueue,
        settings: Settings,
        after_commit: Callable[[AfterCommit], None],
    ) -> None:
        self.images = images
        self.accepts = accepts
        self.job_writes = job_writes
        self.views = views
        self.idempotency = idempotency
        self.uploads = uploads
        self.files = files
        self.credits = credits
        self.photos = photos
        self.queue = queue
        self.settings = settings
        self.after_commit = after_commit

    async def start_generation(
        self,
        user: User,
        image_input_url: str,
        style_id: int | None,
        idempotency_key: str | None,
        *,
        hair_color: str | None = None,
        reference_image_url: str | None = None,
    ) -> StartedJob:
        """A catalogue style (`style_id`) or a haircut from a photo (`reference_image_url`,
        the caller's own upload, through the same intake; the schema takes exactly one).

        Every refusal (colour, style, ownership, intake, photo checks) comes before anything is
        written, so a refused request leaves no idempotency record behind (CR-09) and takes no
        credit; the slow checks run with no transaction open (DB-01) and the photo checks are
        usually read from the result measured when the upload was accepted; the key, the job
        row and its debit are one short write. `hair_color` None is "keep" with a style and the
        reference's own colour with a reference."""
        if reference_image_url is None and hair_color is None:
            hair_color = KEEP
        request_hash = _digest(
            _hashed_fields(
                image_input_url=image_input_url,
                style_id=style_id,
                hair_color=hair_color,
                reference_image_url=reference_image_url,
            )
        )
        # The key, the style and the selfie with its stored checks in one round trip; each is
        # used in the order below, as if read on its own.
        read = await self.accepts.read(
            user.id,
            idempotency_key=idempotency_key,
            style_id=style_id if reference_image_url is None else None,
            upload_key=key_from_reference(image_input_url, self.settings),
        )
        known = read.known
        if idempotency_key is not None:
            replay = _replay(known, request_hash)
            if replay is not None:
                return replay
        if hair_color is not None and find_color(hair_color) is None:
            raise ColorNotFound()
        look = await self._look(user, read.style, reference_image_url)
        upload, stored = await self._checked_upload(user, read.upload)
        await self.photos.require(upload, needs_face=True, stored=stored)
        now = datetime.now(UTC)
        job = {
            "user_id": user.id,
            "style_id": look.style_id,
            "style_name": look.name,
            "description": look.description,
            "input_key": upload.key,
            "reference_key": look.reference_key,
            # NULL: "keep" with a style, the reference's colour with a reference.
            "hair_color": None if hair_color == KEEP and look.style_id else hair_color,
            "status": ImageStatus.PENDING,
            "deadline_at": now + timedelta(seconds=self.settings.GENERATION_TIMEOUT_S),
            # The message queued after commit: the sweeper queues another only past this.
            "queued_until": now + timedelta(seconds=self.settings.job_queue_lease_s),
        }
        if idempotency_key is None:
            image_id = await self.images.insert_job(**job)
        else:
            # The job row and the key with its answer (which names the job) in one write. A
            # request that lost the key to a concurrent one drops its own row (never seen by
            # anyone: it is uncommitted) and answers as the winner did: one job, one debit.
            if known is not None:
                # Stale, or left by a refused request before CR-09: give the key to this one.
                await self.idempotency.forget(known.id)
            prefix, suffix = _ANSWER_AROUND_ID
            claim = KeyClaim(user.id, idempotency_key, request_hash, prefix, suffix)
            image_id, claimed = await self.job_writes.insert(job, claim)
            if not claimed:
                await self.images.discard(image_id)
                return await self._holder_answer(user.id, idempotency_key, request_hash)
        started = StartedJob(image_id, STARTED_MESSAGE)
        # The debit last, with nothing but COMMIT after it: on PostgreSQL its balance update
        # locks the user's row, and every other request of this user (a burst of generates)
        # waits on that lock. Taken earlier, the lock was held across the idempotency write's
        # round trip and the commit's; now it is held for one statement and the commit.
        await self.credits.charge(
            user.id,
            1,
            CreditReason.GENERATION,
            Reference("image", image_id),
            # Only the CR-06 naive debit looks at it: the balance loaded before any lock.
            seen_balance=user.credits,
        )
        self._queue_after_commit(GENERATE_IMAGE, image_id)
        return started

    async def start_views(self, user: User, image_id: int) -> StartedJob:
        image = await self.images.get_owned(image_id, user.id)
        if image is None:
            raise ImageNotFound()
        if not await self.images.begin_views(
            image_id, datetime.now(UTC) + timedelta(seconds=self.settings.job_queue_lease_s)
        ):
            await self.images.session.refresh(image)
            if image.views_status != ViewsStatus.NONE:
                raise ViewsExist()
            raise ImageNotReady()
        await self.credits.charge(
            user.id, VIEW_COST, CreditReason.VIEW_GENERATION, Reference("image", image_id)
        )
        for view in SideView:
            await self.views.add(
                ImageView(image_id=image_id, view=view, status=ImageStatus.PENDING)
            )
        self._queue_after_commit(GENERATE_VIEWS, image_id)
        return StartedJob(image_id, "Views started; poll /image/status/{id}.")

    async def _look(
        self, user: User, style: Style | None, reference_image_url: str | None
    ) -> _Look:
        """`style`: the active catalogue style the request names, as read (None: none such)."""
        if reference_image_url is not None:
            # Ownership and intake as for the selfie; light and sharpness but no face check: a
            # haircut photo may show only hair.
            reference, stored = await self._own_upload(user, reference_image_url)
            await self.photos.require(reference, needs_face=False, stored=stored)
            return _Look(None, REFERENCE_NAME, REFERENCE_DESCRIPTION, reference.key)
        if style is None:
            raise StyleNotFound()
        return _Look(style.id, style.name, style.description, None)

    async def _own_upload(
        self, user: User, reference: str
    ) -> tuple[Upload, PhotoMeasurements | None]:
        """The caller's own upload named by URL or key, checked by image intake, with its
        stored photo measurements when they were read along (None: the checks read or make
        them). Anything else (someone else's upload, an arbitrary URL, an internal address) is
        refused unfetched."""
        key = key_from_reference(reference, self.settings)
        found = await self.uploads.get_by_key_with_check(key) if key else None
        return await self._checked_upload(user, found)

    async def _checked_upload(
        self, user: User, found: tuple[Upload, PhotoCheck | None] | None
    ) -> tuple[Upload, PhotoMeasurements | None]:
        """`_own_upload` of an upload already read with its stored check (None: no upload has
        the key the request names)."""
        if found is None or found[0].user_id != user.id:
            raise ForeignImage()
        upload, check = found
        if upload.status == UploadStatus.READY:
            return upload, stored_measurements(check)
        # Intake downloads, decodes and re-encodes: hold no connection meanwhile, and keep its
        # result even if this request is refused later.
        await release(self.uploads.session)
        checked = await self.files.ensure_checked(user.id, upload.key)
        await checkpoint(self.uploads.session)
        return checked, None

    async def _holder_answer(self, user_id: int, key: str, request_hash: str) -> StartedJob:
        """The answer of the concurrent request with this key that committed first."""
        existing = await self.idempotency.get_for_user(user_id, key)
        assert existing is not None
        if existing.request_hash != request_hash:
            raise IdempotencyKeyReused()
        return StartedJob(**json.loads(existing.response_json))

    def _queue_after_commit(self, task: str, image_id: int) -> None:
        async def enqueue() -> None:
            await self.queue.enqueue(task, image_id)

        self.after_commit(enqueue)


def _replay(existing: IdempotencyKey | None, request_hash: str) -> StartedJob | None:
    """The stored answer of an earlier accepted request with this key, if any."""
    if existing is None or not _is_live(existing):
        return None
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused()
    return StartedJob(**json.loads(existing.response_json))


def _is_live(record: IdempotencyKey) -> bool:
    """Within its window and holding an answer: records of refused requests written before
    CR-09 was fixed hold "{}" and must not be replayed."""
    fresh = record.created_at > datetime.now(UTC) - IDEMPOTENCY_WINDOW
    return fresh and record.response_json not in ("", "{}")


def _hashed_fields(**fields: object) -> dict[str, object]:
    """What the idempotency hash covers: every field, defaults left out, so the hashes of
    requests made before a field existed (and of requests that leave it at its default) do not
    change: a key sent again after an upgrade still replays."""
    defaults: dict[str, object] = {
        "hair_color": KEEP if fields.get("style_id") is not None else None,
        "style_id": None,
        "reference_image_url": None,
    }
    return {name: value for name, value in fields.items() if defaults.get(name, ...) != value}


def _digest(payload: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
