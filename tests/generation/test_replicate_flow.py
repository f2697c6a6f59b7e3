"""`GENERATOR=replicate` through the real app (in-process client, real database, the real job
handlers run by the test) against the loopback fake Replicate: the web-app flow with side
views, JOB-03 (stuck, aborted, unknown → failed, canceled, one refund), JOB-04 (our storage,
never a provider URL), JOB-05 (webhook and poller racing, duplicates, out of order), the
throttled account that drains instead of failing, and the signed webhook route (401s, no
redirect)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.config import Settings
from app.generation.handlers import build_handlers
from app.generation.tasks import GENERATE_IMAGE
from app.integrations.generator import LocalGenerator
from app.integrations.generator.replicate import VIEW_PROMPTS
from app.integrations.webhooks import sign
from app.models import CreditLedgerEntry, CreditReason, DeadLetter, Image, ImageView
from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.generation.queue import RecordingQueue
from tests.generation.replicate_app import replicate_resources, replicate_settings
from tests.generation.steps import first_style_id, generate, path_of, run_jobs, upload
from tests.integrations.generator.fake_replicate import (
    FakeReplicate,
    Script,
    WebhookDelivery,
)

WEBHOOK = "/api/v1/webhooks/replicate"


@pytest.fixture(scope="module")
async def replicate() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate() as fake:
        yield fake


@pytest.fixture
def settings(database_url: str, tmp_path: Path, replicate: FakeReplicate) -> Settings:
    return replicate_settings(database_url, tmp_path, replicate, webhooks="on")


@pytest.fixture
async def resources(
    settings: Settings, connection: AsyncConnection, replicate: FakeReplicate
) -> AsyncIterator[Resources]:
    async with replicate_resources(settings, connection, replicate) as resources:
        yield resources


async def _credits(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/v1/user/credits")).json())


async def _ledger(session: AsyncSession, image_id: int, reason: str) -> int:
    found = await session.scalar(
        select(func.count())
        .select_from(CreditLedgerEntry)
        .where(CreditLedgerEntry.reason == reason, CreditLedgerEntry.reference_id == str(image_id))
    )
    return int(found or 0)


async def _started(client: httpx.AsyncClient, mail: Mail) -> int:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    response = await generate(client, selfie["file_url"], await first_style_id(client))
    assert response.status_code == 200, response.text
    return int(response.json()["image_id"])


async def _status(client: httpx.AsyncClient, image_id: int) -> dict[str, object]:
    body: dict[str, object] = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    return body


async def _deliver(
    client: httpx.AsyncClient, replicate: FakeReplicate, delivery: WebhookDelivery
) -> str:
    response = await replicate.deliver(client, WEBHOOK, delivery)
    assert response.status_code == 200, response.text
    return str(response.json()["outcome"])


async def test_generator_replicate_runs_the_whole_web_app_flow_including_side_views(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, replicate: FakeReplicate
) -> None:
    ready = (await client.get("/ready")).json()
    assert ready["generator"] == {
        "backend": "replicate",
        "model": "bytedance/seedream-4",
        "size": "2K",
        "completion": "webhook+polling",
    }
    image_id = await _started(client, mail)
    await run_jobs(resources)

    front = await _status(client, image_id)
    assert (front["status"], front["error"]) == ("completed", None)
    # JOB-04: the client is given our storage, never a provider URL.
    assert "replicate" not in json.dumps(front)
    [front_id] = replicate.ids()
    stored = await client.get(path_of(str(front["output_image_url"])))
    assert stored.status_code == 200
    replicate.expire_outputs()  # Replicate deletes outputs after an hour: ours stay
    assert (await client.get(path_of(str(front["output_image_url"])))).content == stored.content
    [create] = replicate.creates
    assert create.json["webhook"] == f"http://testserver{WEBHOOK}"
    assert create.json["input"]["image_input"][0].startswith("data:image/jpeg;base64,")

    started = await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    assert started.status_code == 200, started.text
    await run_jobs(resources)
    done = await _status(client, image_id)
    assert (done["status"], done["views_status"]) == ("completed", "completed")
    urls = [done["right_view_url"], done["left_view_url"], done["back_view_url"]]
    assert all(urls)
    assert "replicate" not in json.dumps(done)
    view_creates = replicate.creates[1:]
    assert sorted(c.json["input"]["prompt"] for c in view_creates) == sorted(VIEW_PROMPTS.values())
    # The views start from our stored front result.
    assert {c.json["input"]["image_input"][0] for c in view_creates} == {
        "data:image/jpeg;base64," + base64.b64encode(stored.content).decode()
    }
    assert len(replicate.ids()) == 4  # one prediction per job
    assert await _credits(client) == 0

    # The completed-webhooks arrive after the poller finished: nothing moves.
    outcomes = [await _deliver(client, replicate, d) for d in replicate.deliveries]
    assert outcomes == ["already_final"] * 4
    assert _unsigned(await _status(client, image_id)) == _unsigned(done)
    assert front_id in {d.payload["id"] for d in replicate.deliveries}


async def test_job05_webhook_and_poller_racing_duplicated_and_out_of_order_end_in_one_result(
    client: httpx.AsyncClient,
    mail: Mail,
    resources: Resources,
    replicate: FakeReplicate,
    session: AsyncSession,
) -> None:
    image_id = await _started(client, mail)
    replicate.script_next(Script(statuses=["processing", "succeeded"]))
    replicate.hold_polls()
    worker = asyncio.create_task(run_jobs(resources))
    # Stored by the worker (a webhook faster than that commit is not ours yet).
    pid = await _stored_prediction(resources, image_id)
    processing = {**replicate.prediction(pid), "status": "processing"}
    replicate.finish(pid)
    [completed] = replicate.deliveries

    # The webhook wins while the worker's poll is in flight; the worker's own finish (it sees
    # `succeeded` too) is a no-op.
    assert await _deliver(client, replicate, completed) == "completed"
    replicate.release_polls()
    await worker
    body = await _status(client, image_id)
    assert body["status"] == "completed"
    output = body["output_image_url"]

    assert await _deliver(client, replicate, completed) == "duplicate"
    late_processing = replicate.webhook_for(processing)
    assert await _deliver(client, replicate, late_processing) == "running"
    failed_snapshot = {**replicate.prediction(pid), "status": "failed", "error": "flagged"}
    assert await _deliver(client, replicate, replicate.webhook_for(failed_snapshot)) == (
        "already_final"
    )
    after = await _status(client, image_id)
    # The same stored object; its signed URL may carry a later expiry second.
    assert _unsigned(after)["status"] == "completed"
    assert _unsigned(after)["output_image_url"] == str(output).split("?")[0]
    assert await _ledger(session, image_id, CreditReason.GENERATION) == 1
    assert await _ledger(session, image_id, CreditReason.REFUND) == 0
    assert replicate.ids() == [pid]


async def test_a_webhook_completes_the_job_of_a_worker_that_stopped_waiting(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, replicate: FakeReplicate
) -> None:
    image_id = await _started(client, mail)
    replicate.hold_polls()
    worker = asyncio.create_task(run_jobs(resources))
    # Stored the moment it was created, before the worker waits on it.
    pid = await _stored_prediction(resources, image_id)
    assert replicate.ids() == [pid]
    worker.cancel()  # the worker process died mid-wait
    with pytest.raises(asyncio.CancelledError):
        await worker

    replicate.release_polls()
    replicate.finish(pid)
    [completed] = replicate.deliveries
    assert await _deliver(client, replicate, completed) == "completed"
    assert (await _status(client, image_id))["status"] == "completed"


async def test_a_job_resumed_after_its_worker_died_reattaches_to_its_prediction(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, replicate: FakeReplicate
) -> None:
    """SPEC §4: a job interrupted by a crash re-attaches to the Replicate prediction it
    created instead of paying for another."""
    image_id = await _started(client, mail)
    replicate.hold_polls()
    worker = asyncio.create_task(run_jobs(resources))
    pid = await _stored_prediction(resources, image_id)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    replicate.release_polls()
    async with resources.database.unit_of_work() as session:  # its lease ran out
        await session.execute(
            update(Image)
            .where(Image.id == image_id)
            .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    await build_handlers(resources)[GENERATE_IMAGE](image_id)
    assert (await _status(client, image_id))["status"] == "completed"
    assert replicate.ids() == [pid]


async def test_job03_a_prediction_stuck_processing_fails_the_job_cancels_and_refunds_once(
    client: httpx.AsyncClient,
    mail: Mail,
    resources: Resources,
    replicate: FakeReplicate,
    session: AsyncSession,
) -> None:
    image_id = await _started(client, mail)
    replicate.script_next(Script(statuses=["processing"]))
    await _deadline_in(resources, image_id, seconds=1)
    await run_jobs(resources)

    body = await _status(client, image_id)
    assert body["status"] == "failed"
    assert body["error"]["code"] == "GENERATION_TIMEOUT"  # type: ignore[index]
    [pid] = replicate.ids()
    assert replicate.prediction(pid)["status"] == "canceled"
    assert await _credits(client) == 4
    # The canceled prediction's webhook arrives afterwards: still one refund.
    for delivery in replicate.deliveries:
        assert await _deliver(client, replicate, delivery) == "already_final"
    assert await _ledger(session, image_id, CreditReason.REFUND) == 1


@pytest.mark.parametrize(
    ("script", "code", "canceled"),
    [
        (Script(statuses=["aborted"]), "GENERATION_TIMEOUT", False),
        (Script(statuses=["processing", "exploded"]), "GENERATION_FAILED", True),
        (
            Script(statuses=["processing", "failed"], error="NSFW flagged"),
            "CONTENT_REJECTED",
            False,
        ),
        (
            Script(statuses=["failed"], error="Invalid image: cannot identify"),
            "INVALID_IMAGE",
            False,
        ),
    ],
    ids=["aborted", "unknown-status", "flagged", "input-rejected"],
)
async def test_job03_provider_failures_end_failed_with_our_code_and_one_refund(
    client: httpx.AsyncClient,
    mail: Mail,
    resources: Resources,
    replicate: FakeReplicate,
    session: AsyncSession,
    script: Script,
    code: str,
    canceled: bool,
) -> None:
    image_id = await _started(client, mail)
    replicate.script_next(script)
    await run_jobs(resources)
    body = await _status(client, image_id)
    assert body["status"] == "failed"
    assert body["error"]["code"] == code  # type: ignore[index]
    [pid] = replicate.ids()  # not retried: another prediction cannot fix it
    was_canceled = any(r.path == f"/v1/predictions/{pid}/cancel" for r in replicate.requests)
    assert was_canceled is canceled
    assert await _credits(client) == 4
    assert await _ledger(session, image_id, CreditReason.REFUND) == 1


async def test_a_flagged_result_reported_by_webhook_and_poller_is_refunded_once(
    client: httpx.AsyncClient,
    mail: Mail,
    resources: Resources,
    replicate: FakeReplicate,
    session: AsyncSession,
) -> None:
    image_id = await _started(client, mail)
    replicate.script_next(
        Script(statuses=["processing", "failed"], error="Output flagged as sensitive")
    )
    replicate.hold_polls()
    worker = asyncio.create_task(run_jobs(resources))
    # Stored by the worker (a webhook faster than that commit is not ours yet).
    pid = await _stored_prediction(resources, image_id)
    replicate.finish(pid)
    assert await _deliver(client, replicate, replicate.deliveries[0]) == "failed"
    replicate.release_polls()
    await worker
    body = await _status(client, image_id)
    assert body["error"]["code"] == "CONTENT_REJECTED"  # type: ignore[index]
    assert await _ledger(session, image_id, CreditReason.REFUND) == 1
    assert await _credits(client) == 4


async def test_capacity_failures_are_retried_with_a_new_prediction(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, replicate: FakeReplicate
) -> None:
    image_id = await _started(client, mail)
    replicate.script_next(Script(statuses=["processing", "failed"], error="CUDA out of memory"))
    await run_jobs(resources)
    assert (await _status(client, image_id))["status"] == "completed"
    assert len(replicate.ids()) == 2
    row = await _row(resources, image_id)
    assert row.provider_prediction_id == replicate.ids()[1]


async def test_a_throttled_account_drains_its_queue_instead_of_failing_it(
    client: httpx.AsyncClient,
    mail: Mail,
    resources: Resources,
    replicate: FakeReplicate,
    session: AsyncSession,
) -> None:
    """6 creates/min: every create after the first gets a 429 with retry_after. The jobs go
    back to the queue with that delay (no worker waits), keep their credit, and finish."""
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    style_id = await first_style_id(client)
    ids = [
        (await generate(client, selfie["file_url"], style_id)).json()["image_id"] for _ in range(3)
    ]
    queue = resources.job_queue
    assert isinstance(queue, RecordingQueue)
    replicate.throttled(times=4, retry_after=10)
    rounds = 0
    while True:
        await run_jobs(resources)
        if not queue.delayed:
            break
        assert {delay for delay, _task, _args in queue.delayed} == {10}
        for image_id in ids:
            assert (await _status(client, image_id))["status"] in {"pending", "completed"}
        queue.release_delayed()
        rounds += 1
    assert rounds >= 2
    for image_id in ids:
        assert (await _status(client, image_id))["status"] == "completed"
        assert (await _row(resources, image_id)).attempts == 1  # throttles are no attempts
        assert await _ledger(session, image_id, CreditReason.REFUND) == 0
    assert len(replicate.ids()) == 3


async def test_throttles_never_count_against_job_max_attempts(
    client: httpx.AsyncClient,
    mail: Mail,
    resources: Resources,
    replicate: FakeReplicate,
    session: AsyncSession,
) -> None:
    """A front and its side views throttled more often than JOB_MAX_ATTEMPTS still finish:
    a deferral gives the claim back, so the poison-job cap (JOB-07) never sees throttles."""
    image_id = await _started(client, mail)
    queue = resources.job_queue
    assert isinstance(queue, RecordingQueue)
    throttles = resources.settings.JOB_MAX_ATTEMPTS + 2
    replicate.throttled(times=throttles, retry_after=1)
    await run_jobs(resources)
    for _ in range(throttles):
        assert queue.release_delayed() == 1
        await run_jobs(resources)
    assert (await _status(client, image_id))["status"] == "completed"
    assert (await _row(resources, image_id)).attempts == 1
    # Three views share these: one of them is throttled more than JOB_MAX_ATTEMPTS times.
    replicate.throttled(times=3 * throttles, retry_after=1)
    await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    await run_jobs(resources)
    while queue.release_delayed():
        await run_jobs(resources)
    done = await _status(client, image_id)
    assert (done["status"], done["views_status"]) == ("completed", "completed")
    assert await _ledger(session, image_id, CreditReason.REFUND) == 0
    assert await session.scalar(select(func.count()).select_from(DeadLetter)) == 0


async def test_a_throttled_view_goes_back_to_the_queue(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, replicate: FakeReplicate
) -> None:
    image_id = await _started(client, mail)
    await run_jobs(resources)
    replicate.throttled(times=1, retry_after=3)
    await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    await run_jobs(resources)
    running = await _status(client, image_id)
    assert running["views_status"] == "processing"
    queue = resources.job_queue
    assert isinstance(queue, RecordingQueue)
    assert queue.release_delayed() == 1
    await run_jobs(resources)
    done = await _status(client, image_id)
    assert (done["status"], done["views_status"]) == ("completed", "completed")
    assert await _credits(client) == 0


async def test_side_views_settled_by_webhooks_each_once_a_flagged_view_refunded_once(
    client: httpx.AsyncClient,
    mail: Mail,
    resources: Resources,
    replicate: FakeReplicate,
    session: AsyncSession,
) -> None:
    image_id = await _started(client, mail)
    await run_jobs(resources)
    front = await _status(client, image_id)
    replicate.script_prompt("from directly behind", Script(statuses=["failed"], error="NSFW"))
    replicate.hold_polls()
    await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    await resources.database.background.drain()
    worker = asyncio.create_task(run_jobs(resources))
    view_ids = await _stored_view_predictions(resources, image_id)
    for pid in view_ids:
        replicate.finish(pid)
    outcomes = sorted([await _deliver(client, replicate, d) for d in replicate.deliveries[-3:]])
    assert outcomes == ["completed", "completed", "failed"]
    replicate.release_polls()
    await worker

    done = await _status(client, image_id)
    assert (done["status"], done["views_status"]) == ("completed", "partial")
    assert done["right_view_url"]
    assert done["left_view_url"]
    assert done["back_view_url"] is None
    assert _unsigned(done)["output_image_url"] == _unsigned(front)["output_image_url"]
    refunds = await session.scalar(
        select(func.count())
        .select_from(CreditLedgerEntry)
        .where(
            CreditLedgerEntry.reason == CreditReason.REFUND,
            CreditLedgerEntry.reference_id == f"{image_id}-back",
        )
    )
    assert refunds == 1
    assert await _credits(client) == 1
    # Delivered again (Replicate retries): nothing changes, nothing refunded twice.
    for delivery in replicate.deliveries[-3:]:
        assert await _deliver(client, replicate, delivery) == "duplicate"
    assert await _credits(client) == 1


# --- the webhook route --------------------------------------------------------------------


@pytest.mark.parametrize("path", [WEBHOOK, WEBHOOK + "/"])
async def test_pay07_style_the_replicate_webhook_answers_with_and_without_slash_never_3xx(
    client: httpx.AsyncClient, replicate: FakeReplicate, path: str
) -> None:
    delivery = replicate.webhook_for({"id": "unknownprediction000000000", "status": "succeeded"})
    response = await replicate.deliver(client, path, delivery)
    assert response.status_code == 200
    assert response.json()["outcome"] == "unknown_prediction"
    # Not remembered: it may be a prediction whose id we had not committed yet.
    again = await replicate.deliver(client, path, delivery)
    assert again.json()["outcome"] == "unknown_prediction"


async def test_forged_unsigned_and_reserialised_replicate_webhooks_are_401(
    client: httpx.AsyncClient, replicate: FakeReplicate
) -> None:
    delivery = replicate.webhook_for({"id": "abc", "status": "succeeded"})
    unsigned = await client.post(WEBHOOK, content=delivery.body)
    someone_else = "whsec_" + base64.b64encode(b"not-replicates-key-at-all-32b!!!").decode()
    forged_headers = sign(delivery.body, delivery.webhook_id, int(time.time()), someone_else)
    forged_response = await client.post(WEBHOOK, content=delivery.body, headers=forged_headers)
    signed = replicate.resign(delivery)
    reserialised = json.dumps(json.loads(signed.body), indent=1).encode()
    changed = await client.post(WEBHOOK, content=reserialised, headers=signed.headers)
    for response in (unsigned, forged_response, changed):
        assert response.status_code == 401
        assert response.json()["detail"]["code"] == "INVALID_SIGNATURE"
    # The secret is fetched once (then once more at most, for a rotation), not per delivery.
    secret_reads = sum(r.path == "/v1/webhooks/default/secret" for r in replicate.requests)
    assert 1 <= secret_reads <= 2


async def test_the_replicate_webhook_is_404_when_generating_locally(
    client: httpx.AsyncClient, resources: Resources, replicate: FakeReplicate
) -> None:
    replicate_generator = resources.generator
    resources.generator = LocalGenerator()
    try:
        delivery = replicate.webhook_for({"id": "abc", "status": "succeeded"})
        response = await replicate.deliver(client, WEBHOOK, delivery)
    finally:
        resources.generator = replicate_generator
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "GENERATOR_NOT_REPLICATE"


# --- helpers ------------------------------------------------------------------------------


def _unsigned(status: dict[str, object]) -> dict[str, object]:
    """The status without the signatures of its URLs (they are re-signed per request)."""
    return {k: v.split("?")[0] if isinstance(v, str) else v for k, v in status.items()}


async def _stored_view_predictions(resources: Resources, image_id: int) -> list[str]:
    for _ in range(2000):
        async with resources.database.unit_of_work(write=False) as session:
            stored = list(
                await session.scalars(
                    select(ImageView.provider_prediction_id).where(ImageView.image_id == image_id)
                )
            )
        if len(stored) == 3 and all(stored):
            return [pid for pid in stored if pid]
        await asyncio.sleep(0.005)
    raise AssertionError("the views' prediction ids were not stored")


async def _stored_prediction(resources: Resources, image_id: int) -> str:
    for _ in range(2000):
        stored = (await _row(resources, image_id)).provider_prediction_id
        if stored:
            return stored
        await asyncio.sleep(0.005)
    raise AssertionError("no prediction id was stored")


async def _row(resources: Resources, image_id: int) -> Image:
    async with resources.database.unit_of_work(write=False) as session:
        row = await session.get(Image, image_id, populate_existing=True)
        assert row is not None
        session.expunge(row)
        return row


async def _deadline_in(resources: Resources, image_id: int, *, seconds: float) -> None:
    async with resources.database.unit_of_work() as session:
        await session.execute(
            update(Image)
            .where(Image.id == image_id)
            .values(deadline_at=datetime.now(UTC) + timedelta(seconds=seconds))
        )
