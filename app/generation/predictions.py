"""The prediction lifecycle of remote generations (Replicate), beside the job engine in
`worker.py`:

- `JobPrediction` records a job's prediction id the moment the provider returns it, and hands
  it back to a restarted attempt so it re-attaches instead of paying again (JOB-02);
- `defer_front` / `defer_view` put a throttled job back in the queue with the provider's delay
  without holding a worker slot, and without counting the claim as an attempt;
- `PredictionWebhooks` verifies a signed Replicate webhook, dedupes it by `webhook-id` and
  settles the prediction through the same conditional completion the polling worker uses: a
  report moves a job forward only if it is about the job's current prediction and the job is
  still processing, so duplicated, late or out-of-order reports end in one state (JOB-05),
  and a failure is refunded once by the worker's own fail path (CR-04).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from app.core.db import Database
from app.core.faults import Faults
from app.generation.repository import ImageRepository, ImageViewRepository
from app.generation.result_keys import ResultKeys
from app.generation.tasks import GENERATE_IMAGE, GENERATE_VIEWS
from app.integrations.generator import GenerationFailed, GenerationResult
from app.integrations.generator.replicate import (
    RUNNING,
    TERMINAL,
    ReplicateGenerator,
    failure_of,
)
from app.integrations.storage import Storage, StorageError
from app.integrations.webhooks import InvalidWebhookSignature, WebhookEnvelope
from app.jobs.port import JobQueue
from app.models import Image, ImageStatus, ImageView, ViewsStatus
from app.models.payment import WebhookEvent

if TYPE_CHECKING:
    from app.generation.worker import GenerationWorker

logger = logging.getLogger(__name__)

# Replicate's webhook ids share the webhook inbox with Dodo's, under their own prefix.
_INBOX_PREFIX = "replicate:"
_INBOX_ID_MAX = 255
# Outcomes after which the message has had its effect; only these are remembered.
_FINAL_OUTCOMES = frozenset({"completed", "failed", "already_final", "stale"})


class JobPrediction:
    """The `PredictionSlot` of one front image (`view_id=None`) or one side view."""

    def __init__(
        self,
        database: Database,
        image_id: int,
        view_id: int | None = None,
        *,
        token: int | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.database = database
        self.image_id = image_id
        self.view_id = view_id
        # The claiming attempt's fencing counter: a worker that lost its lease cannot record
        # its prediction over the current attempt's (JOB-09).
        self.token = token
        self.faults = faults or Faults()

    async def current(self) -> str | None:
        async with self.database.unit_of_work(write=False) as session:
            if self.view_id is None:
                return await ImageRepository(session).prediction_of(self.image_id)
            return await ImageViewRepository(session).prediction_of(self.view_id)

    async def submitted(self, prediction_id: str) -> None:
        # JOB-02's crash point: the provider has created (and will bill) the prediction, and
        # nothing of ours knows its id yet. A worker dying here leaves that prediction orphaned;
        # the next attempt creates another (Replicate's create takes no idempotency key), so
        # one extra billable prediction per such crash is the bound, never more.
        await self.faults.at("after_submit", self.image_id)
        # Its own short unit of work, committed before the worker waits on the prediction.
        async with self.database.unit_of_work() as session:
            if self.view_id is None:
                await ImageRepository(session).set_prediction(
                    self.image_id, prediction_id, token=self.token
                )
            else:
                await ImageViewRepository(session).set_prediction(
                    self.view_id, prediction_id, token=self.token
                )


async def defer_front(
    database: Database,
    queue: JobQueue,
    image_id: int,
    delay_s: float,
    *,
    token: int | None = None,
    queue_lease_s: float = 0.0,
) -> None:
    """Pending again (the claim not counted against JOB_MAX_ATTEMPTS), queued again after
    `delay_s`; the queue lease covers the delay so the sweeper does not queue it sooner."""
    queued_until = now_utc() + timedelta(seconds=delay_s + queue_lease_s)
    async with database.unit_of_work() as session:
        deferred = await ImageRepository(session).defer(
            image_id, token=token, queued_until=queued_until
        )
    if deferred:
        logger.info("generation %s throttled by the provider; again in %.0f s", image_id, delay_s)
        await queue.enqueue_later(delay_s, GENERATE_IMAGE, image_id)


async def defer_view(
    database: Database,
    queue: JobQueue,
    image_id: int,
    view_id: int,
    delay_s: float,
    *,
    token: int | None = None,
    queue_lease_s: float = 0.0,
) -> None:
    queued_until = now_utc() + timedelta(seconds=delay_s + queue_lease_s)
    async with database.unit_of_work() as session:
        released = await ImageViewRepository(session).release(view_id, token=token)
        if released:
            await ImageRepository(session).mark_queued(image_id, queued_until)
    if released:
        logger.info("view %s of %s throttled; again in %.0f s", view_id, image_id, delay_s)
        await queue.enqueue_later(delay_s, GENERATE_VIEWS, image_id)


class PredictionWebhooks:
    def __init__(
        self,
        *,
        database: Database,
        storage: Storage,
        generator: ReplicateGenerator,
        worker: GenerationWorker,
        result_keys: ResultKeys,
    ) -> None:
        self.database = database
        self.storage = storage
        self.generator = generator
        self.worker = worker
        self.result_keys = result_keys

    async def verify(self, body: bytes, headers: Mapping[str, str]) -> WebhookEnvelope:
        """The verified delivery, or `InvalidWebhookSignature`. A mismatch re-reads the
        signing secret once (Replicate may have rotated it), rate-limited by the adapter."""
        verifier = await self.generator.webhook_verifier()
        try:
            return verifier.verify(body, headers)
        except InvalidWebhookSignature as first:
            if first.reason != "no_matching_signature":
                raise
            refreshed = await self.generator.webhook_verifier(refresh=True)
            return refreshed.verify(body, headers)

    async def receive(self, envelope: WebhookEnvelope, body: bytes) -> str:
        """Settle the prediction the delivery reports; the outcome is for logs and tests.
        A webhook-id is recorded once its report had its effect, so a redelivery after a failed
        attempt (our 5xx, a lost answer, a webhook faster than our commit of the prediction id)
        is processed again, and a duplicate is not."""
        inbox_id = _inbox_id(envelope.webhook_id)
        async with self.database.unit_of_work(write=False) as session:
            seen = await session.scalar(
                WebhookEvent.__table__.select()
                .with_only_columns(WebhookEvent.id)
                .where(WebhookEvent.webhook_id == inbox_id)
            )
        if seen is not None:
            return "duplicate"
        outcome = await self.settle(envelope.payload)
        if outcome not in _FINAL_OUTCOMES:
            # Nothing was decided (a prediction not yet recorded as ours, still running, or
            # left to the worker's retry): a redelivery of this message is worth processing.
            logger.info("replicate webhook %s: %s", envelope.webhook_id, outcome)
            return outcome
        async with self.database.unit_of_work() as session:
            event = WebhookEvent(
                webhook_id=inbox_id,
                event_type="replicate.prediction",
                payload=body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
                outcome=outcome,
            )
            try:
                async with session.begin_nested():
                    session.add(event)
                    await session.flush()
            except IntegrityError:
                return "duplicate"  # a concurrent delivery of the same message
        logger.info("replicate webhook %s: %s", envelope.webhook_id, outcome)
        return outcome

    async def settle(self, prediction: Mapping[str, Any]) -> str:
        prediction_id = prediction.get("id")
        if not isinstance(prediction_id, str) or not prediction_id:
            return "invalid_payload"
        status = prediction.get("status")
        async with self.database.unit_of_work(write=False) as session:
            image = await ImageRepository(session).by_prediction(prediction_id)
            view = (
                None if image else await ImageViewRepository(session).by_prediction(prediction_id)
            )
            owner = await session.get(Image, view.image_id) if view is not None else None
        if image is None and (view is None or owner is None):
            return "unknown_prediction"
        if status in RUNNING:
            return "running"
        if status not in TERMINAL:
            await self.generator.cancel(prediction_id)
        if image is not None:
            return await self._settle_front(image, prediction)
        assert view is not None
        assert owner is not None
        return await self._settle_view(owner, view, prediction)

    async def _result(self, prediction: Mapping[str, Any]) -> GenerationResult | GenerationFailed:
        failure = failure_of(prediction)
        if failure is not None:
            return failure
        try:
            return await self.generator.result_of(prediction)
        except GenerationFailed as failed:
            return failed

    async def _settle_front(self, image: Image, prediction: Mapping[str, Any]) -> str:
        if image.status != ImageStatus.PROCESSING or image.views_status != ViewsStatus.NONE:
            return "already_final"
        outcome = await self._result(prediction)
        if isinstance(outcome, GenerationFailed):
            if outcome.retryable:
                # Another prediction can still succeed: the waiting worker retries it.
                return "left_to_worker"
            await self.worker.fail(image.id, outcome)
            return "failed"
        # The key of the attempt waiting on this prediction (the same the polling worker
        # would store), so a late stale attempt can never overwrite it (JOB-09).
        key = self.result_keys.key(
            image.user_id, image.id, "front", outcome.content_type, attempt=image.lease_token
        )
        # JOB-04: the result is in our storage before the row says completed.
        await self.storage.put(key, outcome.data, outcome.content_type)
        async with self.database.unit_of_work() as session:
            images = ImageRepository(session)
            done = await images.complete_prediction(image.id, str(prediction["id"]), key, now_utc())
            row = await images.get(image.id)
            kept = done or (row is not None and row.output_key == key)
        if not kept:
            await self.storage.delete(key)
        if done:
            await self._remove_earlier_attempts(image.user_id, image.id, "front", image.lease_token)
        return "completed" if done else "stale"

    async def _settle_view(
        self, image: Image, view: ImageView, prediction: Mapping[str, Any]
    ) -> str:
        if view.status != ImageStatus.PROCESSING:
            return "already_final"
        outcome = await self._result(prediction)
        if isinstance(outcome, GenerationFailed):
            if outcome.retryable:
                return "left_to_worker"
            await self.worker.fail_view(image.id, view, outcome.code)
            await self.worker.finish_views(image.id)
            return "failed"
        key = self.result_keys.key(
            image.user_id, image.id, view.view, outcome.content_type, attempt=view.lease_token
        )
        await self.storage.put(key, outcome.data, outcome.content_type)
        async with self.database.unit_of_work() as session:
            views = ImageViewRepository(session)
            done = await views.complete_prediction(view.id, str(prediction["id"]), key)
            if done:
                await ImageRepository(session).set_view_key(image.id, view.view, key)
            row = await session.get(ImageView, view.id, populate_existing=True)
            kept = done or (row is not None and row.output_key == key)
        if not kept:
            await self.storage.delete(key)
        if done:
            await self._remove_earlier_attempts(
                image.user_id, image.id, view.view, view.lease_token
            )
        await self.worker.finish_views(image.id)
        return "completed" if done else "stale"

    async def _remove_earlier_attempts(
        self, user_id: int, image_id: int, view: str, attempt: int
    ) -> None:
        """Best effort, after the result is recorded (as the worker does)."""
        for key in self.result_keys.earlier_attempts(user_id, image_id, view, attempt):
            try:
                await self.storage.delete(key)
            except StorageError:
                logger.warning("could not remove %s left by an earlier attempt", key)


def now_utc() -> datetime:
    return datetime.now(UTC)


def _inbox_id(webhook_id: str) -> str:
    candidate = _INBOX_PREFIX + webhook_id
    if len(candidate) <= _INBOX_ID_MAX:
        return candidate
    return _INBOX_PREFIX + hashlib.sha256(webhook_id.encode()).hexdigest()
