"""The job engine in one process, on the test database (RELIABILITY JOB-07, JOB-08, JOB-09):
sweepers that do not flood the queue, poison jobs that end, owned and fenced leases for the
front image and its side views, and what a job tells its user and its logs.

Jobs are created through the API; "a worker died" is a claim that never finished, and "its
lease lapsed" moves `lease_until` into the past (what time would do)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Database
from app.core.locks import held_alone
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.generation.handlers import build_worker
from app.generation.repository import DeadLetterRepository
from app.generation.sweeper import LOCK_NAME, Sweeper
from app.generation.tasks import GENERATE_IMAGE, GENERATE_VIEWS
from app.generation.worker import ClaimedJob, GenerationWorker, now_utc
from app.integrations.generator import GenerationFailed, GenerationResult
from app.models import CreditLedgerEntry, CreditReason, ImageView
from app.models import Image as ImageRow
from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.conftest import BACKEND
from tests.files.images import jpeg
from tests.generation.queue import RecordingQueue
from tests.generation.steps import first_style_id, generate, upload


def _worker(resources: Resources, name: str, **settings: object) -> GenerationWorker:
    """A worker process of its own (its own id and settings) on the shared database."""
    configured = resources.settings.model_copy(update=settings)
    return GenerationWorker(
        resources.database, resources.storage, resources.generator, configured, worker_id=name
    )


async def _top_up(session: AsyncSession, user_id: int, amount: int, why: str = "jobs") -> None:
    await CreditsService(CreditLedgerRepository(session)).grant(
        user_id, amount, CreditReason.ADMIN_ADJUSTMENT, Reference("test", f"{why}-{user_id}")
    )
    await session.flush()


async def _jobs(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources, count: int
) -> list[int]:
    """`count` accepted generations of one user, not yet run (their messages consumed)."""
    await signed_up_and_verified(client, mail)
    me = (await client.get("/api/v1/user/me")).json()
    if count > 3:
        await _top_up(session, me["id"], count - 3)
    selfie = await upload(client)
    style_id = await first_style_id(client)
    ids = []
    for _ in range(count):
        response = await generate(client, selfie["file_url"], style_id)
        assert response.status_code == 200, response.text
        ids.append(int(response.json()["image_id"]))
    await resources.database.background.drain()
    queue = resources.job_queue
    assert isinstance(queue, RecordingQueue)
    queue.jobs.clear()
    return ids


async def _row(session: AsyncSession, image_id: int) -> ImageRow:
    row = await session.get(ImageRow, image_id, populate_existing=True)
    assert row is not None
    return row


async def _lapse(session: AsyncSession, *image_ids: int) -> None:
    """Time passes: leases and queue leases of these jobs run out."""
    past = now_utc() - timedelta(seconds=1)
    await session.execute(
        update(ImageRow)
        .where(ImageRow.id.in_(image_ids))
        .values(lease_until=past, queued_until=past)
    )
    await session.flush()


async def _ledger(session: AsyncSession, image_id: int, reason: str) -> int:
    found = await session.scalar(
        select(func.count())
        .select_from(CreditLedgerEntry)
        .where(CreditLedgerEntry.reason == reason, CreditLedgerEntry.reference_id == str(image_id))
    )
    return int(found or 0)


def _result() -> GenerationResult:
    return GenerationResult(
        data=jpeg((64, 64), "orange"), content_type="image/jpeg", provider_id=None, is_preview=True
    )


# --- JOB-08: one sweeper, no queue storms --------------------------------------------------


async def test_job08_two_sweeping_processes_queue_each_waiting_job_once_per_lapsed_lease(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources
) -> None:
    """20 waiting jobs (10 whose message was lost, 10 whose worker died mid-job), two API
    processes sweeping every interval for what would be a minute: each job is queued once,
    then once more only after that queue lease lapsed too. A job being worked on is never
    queued."""
    ids = await _jobs(client, mail, session, resources, 21)
    lost, died, running = ids[:10], ids[10:20], ids[20]
    dead = _worker(resources, "dead")
    for image_id in died:
        assert await dead.claim(image_id) is not None
    assert await _worker(resources, "alive").claim(running) is not None
    await _lapse(session, *lost, *died)

    queues = [RecordingQueue(), RecordingQueue()]
    sweepers = [
        Sweeper(resources.database, build_worker(resources), queue, resources.settings)
        for queue in queues
    ]
    for _ in range(6):  # 60 s of passes at SWEEP_INTERVAL_S=10, in both processes
        for sweeper in sweepers:
            await sweeper.sweep_once()
    # The run's database is shared with the end-to-end tests' live servers, whose leftovers a
    # sweeper may rightly pick up too: count the messages of this test's own jobs.
    messages = [args[0] for queue in queues for _task, args in queue.jobs if args[0] in ids]
    assert all(task == GENERATE_IMAGE for queue in queues for task, _ in queue.jobs)
    assert sorted(messages) == sorted(lost + died), "each waiting job queued exactly once"

    await _lapse(session, *lost)
    for sweeper in sweepers:
        await sweeper.sweep_once()
    messages = [args[0] for queue in queues for _task, args in queue.jobs if args[0] in ids]
    assert sorted(messages) == sorted(lost + lost + died)
    assert running not in messages


@pytest.mark.skipif(BACKEND != "postgresql", reason="SQLite serves one process")
async def test_job08_a_process_does_not_sweep_while_another_one_is(
    client: httpx.AsyncClient,
    mail: Mail,
    session: AsyncSession,
    resources: Resources,
    database_url: str,
) -> None:
    [image_id] = await _jobs(client, mail, session, resources, 1)
    await _lapse(session, image_id)
    queue = RecordingQueue()
    sweeper = Sweeper(resources.database, build_worker(resources), queue, resources.settings)
    other_process = Database.from_url(database_url)
    try:
        async with held_alone(other_process, LOCK_NAME) as holding:
            assert holding
            assert await sweeper.sweep_once() is False
            assert queue.jobs == []  # no pass at all: nothing of anyone's queued
    finally:
        await other_process.dispose()
    assert await sweeper.sweep_once() is True
    assert queue.jobs_for(image_id) == [(GENERATE_IMAGE, (image_id,))]


# --- JOB-07: poison jobs end ---------------------------------------------------------------


async def test_job07_a_job_whose_worker_died_on_every_attempt_fails_refunded_and_dead_lettered(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources
) -> None:
    poison, healthy = await _jobs(client, mail, session, resources, 2)
    for attempt in range(resources.settings.JOB_MAX_ATTEMPTS):
        job = await _worker(resources, f"doomed-{attempt}").claim(poison)
        assert job is not None
        assert job.attempt == attempt + 1
        await _lapse(session, poison)  # the worker died; its lease runs out

    # The next delivery does not run it a fourth time: it fails it.
    queue = RecordingQueue()
    await build_worker(resources).run_generation(poison)
    row = await _row(session, poison)
    assert (row.status, row.error_code, row.attempts) == ("failed", "GENERATION_FAILED", 3)
    # The sweeper, a late delivery and another sweep change nothing more.
    sweeper = Sweeper(resources.database, build_worker(resources), queue, resources.settings)
    await sweeper.sweep_once()
    await build_worker(resources).run_generation(poison)
    assert await _ledger(session, poison, "refund") == 1
    # What the admin reads: the most recent dead letters.
    [letter] = [
        letter
        for letter in await DeadLetterRepository(session).list_recent(50)
        if letter.image_id == poison
    ]
    assert (letter.task_name, letter.image_id, letter.view, letter.attempts) == (
        GENERATE_IMAGE,
        poison,
        None,
        3,
    )
    assert letter.error_code == "GENERATION_FAILED"
    # Meanwhile the other job is untouched and still runs.
    await build_worker(resources).run_generation(healthy)
    assert (await _row(session, healthy)).status == "completed"
    assert queue.jobs_for(poison, healthy) == []


async def test_job07_the_sweeper_gives_up_an_exhausted_job_without_a_delivery(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources
) -> None:
    """In embedded mode a poison job kills the API itself; no message survives that, so the
    sweeper of the restarted process must end it."""
    [poison] = await _jobs(client, mail, session, resources, 1)
    for attempt in range(resources.settings.JOB_MAX_ATTEMPTS):
        assert await _worker(resources, f"api-{attempt}").claim(poison) is not None
        await _lapse(session, poison)
    queue = RecordingQueue()
    sweeper = Sweeper(resources.database, build_worker(resources), queue, resources.settings)
    await sweeper.sweep_once()
    assert (await _row(session, poison)).error_code == "GENERATION_FAILED"
    assert await _ledger(session, poison, "refund") == 1
    assert queue.jobs_for(poison) == [], "an exhausted job is not queued again"


# --- JOB-09: leases are owned ----------------------------------------------------------------


async def test_job09_a_worker_whose_lease_was_taken_over_cannot_complete_fail_or_store(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources
) -> None:
    [image_id] = await _jobs(client, mail, session, resources, 1)
    first, second = _worker(resources, "paused"), _worker(resources, "fresh")
    stale = await first.claim(image_id)
    assert stale is not None
    await _lapse(session, image_id)  # the first worker paused past its lease
    current = await second.claim(image_id)
    assert current is not None
    assert current.token > stale.token
    row = await _row(session, image_id)
    assert (row.lease_owner, row.lease_token) == ("fresh", current.token)

    assert await first.finish(stale, _result()) is False
    assert await first.fail(image_id, GenerationFailed("PROVIDER_UNAVAILABLE"), job=stale) is False
    row = await _row(session, image_id)
    assert (row.status, row.output_key, row.lease_owner) == ("processing", None, "fresh")
    assert await _ledger(session, image_id, "refund") == 0
    folder = first.result_keys.folder_of(row.user_id, image_id)
    assert await resources.storage.delete_prefix(folder) == 0, "the stale worker stored nothing"

    assert await second.finish(current, _result()) is True
    row = await _row(session, image_id)
    assert row.status == "completed"
    assert row.output_key is not None
    assert row.output_key.startswith(folder)
    assert await _ledger(session, image_id, "refund") == 0


async def test_job09_a_heartbeat_database_error_does_not_discard_the_finished_result(
    client: httpx.AsyncClient,
    mail: Mail,
    session: AsyncSession,
    resources: Resources,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every heartbeat of this job hits a database error (JOB_FAULTS injects it where the
    lease is renewed) while the generator works past the lease: nobody took the job over, so
    its finished result is stored and the job completes."""
    [image_id] = await _jobs(client, mail, session, resources, 1)
    worker = _worker(
        resources,
        "unlucky",
        JOB_LEASE_S=1,
        JOB_FAULTS="heartbeat=db_error,after_generate=delay:1.2",
    )
    with caplog.at_level(logging.WARNING, logger="app.generation.worker"):
        await worker.run_generation(image_id)
    row = await _row(session, image_id)
    assert (row.status, row.attempts) == ("completed", 1)
    assert row.output_key is not None
    assert await _ledger(session, image_id, "refund") == 0
    failed_beats = [r for r in caplog.records if "heartbeat failed" in r.getMessage()]
    assert failed_beats, "the heartbeat did run into the injected database error"


# --- side views: the same lease, heartbeat and fencing ----------------------------------------


async def test_side_views_keep_their_leases_alive_and_run_once_when_delivered_again(
    client: httpx.AsyncClient,
    mail: Mail,
    session: AsyncSession,
    resources: Resources,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The views job is delivered a second time (an API restart resumes it) while the first
    delivery's views are still generating past the lease: the heartbeat keeps them owned, so
    the second delivery runs none of them."""
    [image_id] = await _jobs(client, mail, session, resources, 1)
    await run_jobs_now(resources, image_id)
    me = (await client.get("/api/v1/user/me")).json()
    await _top_up(session, me["id"], 3, "views")
    started = await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    assert started.status_code == 200, started.text
    await resources.database.background.drain()

    slow = _worker(resources, "slow", JOB_LEASE_S=1, JOB_FAULTS="after_generate=delay:1.8")
    again = _worker(resources, "restarted", JOB_LEASE_S=1)
    with caplog.at_level(logging.INFO, logger="app.generation.worker"):
        first = asyncio.create_task(slow.run_views(image_id))
        await asyncio.sleep(1.3)  # past the first lease: only a renewed lease protects it
        await again.run_views(image_id)
        await first
    views = (
        await session.scalars(
            select(ImageView)
            .where(ImageView.image_id == image_id)
            .execution_options(populate_existing=True)
        )
    ).all()
    assert sorted((v.view, v.status, v.attempts) for v in views) == [
        ("back", "completed", 1),
        ("left", "completed", 1),
        ("right", "completed", 1),
    ]
    starts = [r.getMessage() for r in caplog.records if " view " in r.getMessage()]
    assert len([m for m in starts if "started" in m]) == 3, starts
    status = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    assert (status["status"], status["views_status"]) == ("completed", "completed")


async def test_a_side_view_taken_over_cannot_be_completed_or_refunded_by_its_old_worker(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources
) -> None:
    [image_id] = await _jobs(client, mail, session, resources, 1)
    await run_jobs_now(resources, image_id)
    me = (await client.get("/api/v1/user/me")).json()
    await _top_up(session, me["id"], 3, "views")
    assert (
        await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    ).status_code == 200
    await resources.database.background.drain()
    view = (
        await session.scalars(
            select(ImageView).where(ImageView.image_id == image_id, ImageView.view == "right")
        )
    ).one()
    first, second = _worker(resources, "old"), _worker(resources, "new")
    images_job = ClaimedJob(
        image_id=image_id,
        user_id=me["id"],
        input_key="",
        output_key="unused",
        spec=None,
        deadline_at=now_utc() + timedelta(minutes=5),
    )
    stale = await first.claim_view(images_job, view)
    assert stale is not None
    await session.execute(
        update(ImageView)
        .where(ImageView.id == view.id)
        .values(lease_until=now_utc() - timedelta(seconds=1))
    )
    current = await second.claim_view(images_job, view)
    assert current is not None
    assert current.token > stale.token

    assert await first.finish_view(stale, view, _result()) is False
    assert await first.fail_view(image_id, view, "PROVIDER_UNAVAILABLE", job=stale) is False
    refunds = await session.scalar(
        select(func.count())
        .select_from(CreditLedgerEntry)
        .where(
            CreditLedgerEntry.reason == "refund",
            CreditLedgerEntry.reference_type == "view",
            # This view's refund only: the session's database holds earlier tests' refunds.
            CreditLedgerEntry.reference_id == f"{image_id}-right",
        )
    )
    assert refunds == 0
    assert await second.finish_view(current, view, _result()) is True


# --- what the job tells its user and its logs ------------------------------------------------


async def test_time_taken_is_the_whole_wait_and_logs_name_the_image_and_attempt(
    client: httpx.AsyncClient,
    mail: Mail,
    session: AsyncSession,
    resources: Resources,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The user waited from the request (here: a first attempt died 100 s ago), not just
    during the attempt that finished."""
    [image_id] = await _jobs(client, mail, session, resources, 1)
    assert await _worker(resources, "died").claim(image_id) is not None
    await session.execute(
        update(ImageRow)
        .where(ImageRow.id == image_id)
        .values(created_at=now_utc() - timedelta(seconds=100))
    )
    await _lapse(session, image_id)
    with caplog.at_level(logging.INFO, logger="app.generation.worker"):
        await _worker(resources, "second").run_generation(image_id)
    row = await _row(session, image_id)
    assert row.status == "completed"
    assert row.time_taken is not None
    assert row.time_taken >= 100
    messages = [r.getMessage() for r in caplog.records]
    assert f"generation {image_id} attempt 2/3 started on second" in messages
    assert any(m.startswith(f"generation {image_id} attempt 2 completed") for m in messages)


async def run_jobs_now(resources: Resources, image_id: int) -> None:
    """Run the front job of `image_id` (its message was cleared by `_jobs`)."""
    await build_worker(resources).run_generation(image_id)


def test_settings_name_the_job_engine_windows(settings: Settings) -> None:
    assert (settings.JOB_MAX_ATTEMPTS, settings.JOB_REDELIVER_AFTER_S) == (3, 60.0)
    assert settings.JOB_STOP_GRACE_S == 10.0
    assert settings.job_queue_lease_s == 60.0
    with pytest.raises(ValueError, match="JOB_FAULTS is a test-only switch"):
        Settings(
            _env_file=None,
            ENV="prod",
            JOB_FAULTS="before_generate=kill",
        )


async def test_job06_the_same_job_delivered_three_times_at_once_makes_one_result(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources
) -> None:
    [image_id] = await _jobs(client, mail, session, resources, 1)
    workers = [_worker(resources, f"worker-{n}") for n in range(3)]
    await asyncio.gather(*(worker.run_generation(image_id) for worker in workers))
    row = await _row(session, image_id)
    assert (row.status, row.attempts, row.lease_token) == ("completed", 1, 1)
    assert await _ledger(session, image_id, "generation") == 1
    assert await _ledger(session, image_id, "refund") == 0
    folder = workers[0].result_keys.folder_of(row.user_id, image_id)
    assert await resources.storage.delete_prefix(folder) == 1, "one stored result"


async def test_views_whose_message_was_lost_are_queued_again_once_per_lapsed_lease(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources
) -> None:
    [image_id] = await _jobs(client, mail, session, resources, 1)
    await run_jobs_now(resources, image_id)
    me = (await client.get("/api/v1/user/me")).json()
    await _top_up(session, me["id"], 3, "views")
    assert (
        await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    ).status_code == 200
    await resources.database.background.drain()
    queue = RecordingQueue()
    sweeper = Sweeper(resources.database, build_worker(resources), queue, resources.settings)
    await sweeper.sweep_once()
    assert queue.jobs_for(image_id) == [], "its message is still within its window"
    await _lapse(session, image_id)
    for _ in range(3):
        await sweeper.sweep_once()
    assert queue.jobs_for(image_id) == [(GENERATE_VIEWS, (image_id,))]


async def test_a_stopping_worker_gives_its_lease_back_and_the_attempt_does_not_count(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources
) -> None:
    """A worker stopped past its grace cancels the job: the next delivery claims it at once
    (no lease to wait out) and deployments restarting workers never dead-letter a job."""
    [image_id] = await _jobs(client, mail, session, resources, 1)
    stopping = _worker(resources, "stopping", JOB_FAULTS="after_generate=delay:30")
    running = asyncio.create_task(stopping.run_generation(image_id))
    for _ in range(500):  # until it has claimed the job (bounded)
        if (await _row(session, image_id)).lease_owner == "stopping":
            break
        await asyncio.sleep(0.02)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    row = await _row(session, image_id)
    assert (row.status, row.attempts, row.lease_owner) == ("processing", 0, None)
    await _worker(resources, "next").run_generation(image_id)
    row = await _row(session, image_id)
    assert (row.status, row.attempts) == ("completed", 1)
