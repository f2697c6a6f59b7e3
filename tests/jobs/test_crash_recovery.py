"""Crash promises with real worker processes (`python -m app.jobs`, production handlers
and the local generator) on the test database and a private Redis; the test process plays the
API: it accepts jobs (charges, rows, queue) and runs the sweeper as every API process does.

A worker is killed at a named point by itself (`JOB_FAULTS`, the test-only fault hook): a real
SIGKILL, no shutdown code. JOB-01: killed after the debit, before the generator ran; after a
restart the job completes (or is refunded), within the redelivery window plus one sweep.
JOB-02: killed (with GENERATOR=replicate against the fake Replicate) after Replicate's create
answered, before the prediction id was stored; after a restart the job completes, charged once,
with at most one extra prediction.
JOB-07: a job that kills its worker on every attempt fails after JOB_MAX_ATTEMPTS, is refunded
once and dead-lettered, while the other jobs keep completing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from app.core.config import Settings
from app.core.db import Database
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.generation.handlers import build_worker
from app.generation.sweeper import Sweeper
from app.generation.tasks import GENERATE_IMAGE, GENERATE_VIEWS
from app.jobs import JobQueue
from app.jobs.broker import CONSUMER_GROUP, QUEUE_NAME, TaskiqJobQueue, build_broker
from app.models import CreditLedgerEntry, CreditReason, DeadLetter, Image, ImageStatus, Style, User
from app.resources import Resources
from tests.generation.steps import portrait
from tests.integrations.generator.fake_replicate import API_TOKEN, FakeReplicate
from tests.jobs.conftest import StartWorker, Worker, wait_until, worker_ready

pytestmark = pytest.mark.slow

SWEEP_INTERVAL_S = 0.5


@pytest.fixture
def api_settings(worker_env: dict[str, str], tmp_path: Path) -> Settings:
    """The API process's settings: the workers' environment."""
    return Settings(
        _env_file=None,
        ENV="dev",
        DATABASE_URL=worker_env["DATABASE_URL"],
        MAIL_DIR=tmp_path / "mail",
        MEDIA_DIR=tmp_path / "media",
        RATE_LIMIT_ENABLED=False,
        JOB_BROKER_URL=worker_env["JOB_BROKER_URL"],
        JOB_REDELIVER_AFTER_S=float(worker_env["JOB_REDELIVER_AFTER_S"]),
        JOB_LEASE_S=int(worker_env["JOB_LEASE_S"]),
        SWEEP_INTERVAL_S=SWEEP_INTERVAL_S,
    )


@pytest.fixture
async def api(api_settings: Settings, redis: Redis) -> AsyncIterator[Resources]:
    """The API side: committed writes on the shared database, the Redis queue and a sweeper,
    as every API process runs one (`unswept_api` is the same without it)."""
    async with api_side(api_settings, sweeping=True) as resources:
        yield resources


@pytest.fixture
async def unswept_api(api_settings: Settings, redis: Redis) -> AsyncIterator[Resources]:
    """The API side without its own sweeper, for a test that runs and counts the sweepers."""
    async with api_side(api_settings, sweeping=False) as resources:
        yield resources


@contextlib.asynccontextmanager
async def api_side(api_settings: Settings, *, sweeping: bool) -> AsyncIterator[Resources]:
    resources = Resources.build(api_settings)

    async def never_here(*ids: int) -> None:
        raise AssertionError(f"a job ran in the API process: {ids}")

    queue = TaskiqJobQueue(
        build_broker(api_settings.JOB_BROKER_URL),
        dict.fromkeys((GENERATE_IMAGE, GENERATE_VIEWS), never_here),
    )
    resources.job_queue = queue
    await queue.start()
    sweeper = Sweeper(resources.database, build_worker(resources), queue, api_settings)
    loop = asyncio.create_task(sweeper.run_forever()) if sweeping else None
    try:
        yield resources
    finally:
        if loop is not None:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        await queue.stop()
        await resources.database.dispose()


async def accept_job(api: Resources) -> int:
    """What POST /generate commits: a user's charged job row; then its message is queued."""
    key = f"uploads/crash-{uuid.uuid4().hex}.jpg"
    await api.storage.put(key, portrait(), "image/jpeg")
    now = datetime.now(UTC)
    async with api.database.unit_of_work() as session:
        user = User(
            email=f"crash-{uuid.uuid4().hex[:10]}@example.com",
            name="Crash Test",
            credits=1,
            verified=True,
        )
        session.add(user)
        style = await session.scalar(select(Style).where(Style.is_active.is_(True)).limit(1))
        assert style is not None
        await session.flush()
        image = Image(
            user_id=user.id,
            style_id=style.id,
            style_name=style.name,
            description=style.description,
            input_key=key,
            status=ImageStatus.PENDING,
            deadline_at=now + timedelta(seconds=api.settings.GENERATION_TIMEOUT_S),
            queued_until=now + timedelta(seconds=api.settings.job_queue_lease_s),
        )
        session.add(image)
        await session.flush()
        await CreditsService(CreditLedgerRepository(session)).charge(
            user.id, 1, CreditReason.GENERATION, Reference("image", image.id)
        )
        image_id = image.id
    assert api.job_queue is not None
    await api.job_queue.enqueue(GENERATE_IMAGE, image_id)
    return image_id


async def image(database: Database, image_id: int) -> Image:
    async with database.unit_of_work(write=False) as session:
        row = await session.get(Image, image_id)
        assert row is not None
        return row


async def ledger(database: Database, image_id: int) -> dict[str, int]:
    async with database.unit_of_work(write=False) as session:
        rows = await session.execute(
            select(CreditLedgerEntry.reason, func.count())
            .where(CreditLedgerEntry.reference_id == str(image_id))
            .group_by(CreditLedgerEntry.reason)
        )
        return {reason: int(count) for reason, count in rows.all()}


async def balance(database: Database, image_id: int) -> int:
    async with database.unit_of_work(write=False) as session:
        row = await session.get(Image, image_id)
        assert row is not None
        user = await session.get(User, row.user_id)
        assert user is not None
        return user.credits


def finished(row: Image) -> bool:
    return row.status in (ImageStatus.COMPLETED, ImageStatus.FAILED)


async def test_job01_a_worker_killed_after_the_debit_before_the_generator_ran_is_recovered(
    api: Resources, start_worker: StartWorker, redis: Redis
) -> None:
    image_id = await accept_job(api)
    doomed = await start_worker(JOB_FAULTS=f"before_generate@{image_id}=kill")
    await wait_until(lambda: _exited(doomed), "the worker killing itself", doomed, within_s=60)
    assert doomed.process.returncode == -9, doomed.log()
    row = await image(api.database, image_id)
    # Charged, claimed, and nothing in progress: exactly what must not stay that way.
    assert (row.status, row.attempts) == ("processing", 1)
    assert await ledger(api.database, image_id) == {"generation": 1}

    restarted = await start_worker()
    await wait_until(lambda: worker_ready(restarted), "the restarted worker", restarted)
    # Within the redelivery window (or the lease, whichever is longer: 1 s here) plus one
    # sweep, and the slack a loaded 2-core machine needs: a bound on waiting, not a timing.
    bound = api.settings.job_queue_lease_s + SWEEP_INTERVAL_S + 15
    try:
        await wait_until(
            lambda: _finished(api.database, image_id), "recovery", restarted, within_s=bound
        )
    finally:
        await restarted.stop()
    row = await image(api.database, image_id)
    entries = await ledger(api.database, image_id)
    if row.status == ImageStatus.COMPLETED:
        assert entries == {"generation": 1}
        assert await balance(api.database, image_id) == 0
        assert row.attempts == 2
        assert row.output_key is not None
        assert await api.storage.exists(row.output_key)
    else:
        assert entries == {"generation": 1, "refund": 1}
        assert await balance(api.database, image_id) == 1


@pytest.fixture
async def replicate() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate() as fake:
        # A worker process cannot reach the faked CDN (SSRF-01 refuses loopback): outputs come
        # inline, as data URIs.
        fake.default_output = "data"
        yield fake


def replicate_env(replicate: FakeReplicate) -> dict[str, str]:
    """A worker generating on the fake Replicate, completing by polling (no webhook route)."""
    return {
        "GENERATOR": "replicate",
        "REPLICATE_API_TOKEN": API_TOKEN,
        "REPLICATE_BASE_URL": replicate.base_url,
        "REPLICATE_POLL_INTERVAL_S": "0.05",
        "REPLICATE_WEBHOOKS": "off",
    }


async def test_job02_a_worker_killed_after_submit_before_the_id_was_stored_finishes_the_job(
    api: Resources, start_worker: StartWorker, replicate: FakeReplicate, redis: Redis
) -> None:
    """The worst instant for money: Replicate has created (and will bill) a prediction, and
    the worker dies before committing its id, so nothing of ours can find it again. Replicate's
    create takes no idempotency key, so the honest bound is one extra billable prediction: the
    next attempt creates exactly one more, the job finishes, and the user is charged once."""
    image_id = await accept_job(api)
    doomed = await start_worker(
        **replicate_env(replicate), JOB_FAULTS=f"after_submit@{image_id}=kill"
    )
    await wait_until(lambda: _exited(doomed), "the worker killing itself", doomed, within_s=60)
    assert doomed.process.returncode == -9, doomed.log()
    orphan = replicate.ids()
    assert len(orphan) == 1, "Replicate created the prediction before the worker died"
    row = await image(api.database, image_id)
    # Charged, claimed, a prediction running at Replicate, and no id of it on our side.
    assert (row.status, row.attempts, row.provider_prediction_id) == ("processing", 1, None)
    assert await ledger(api.database, image_id) == {"generation": 1}

    restarted = await start_worker(**replicate_env(replicate))
    await wait_until(lambda: worker_ready(restarted), "the restarted worker", restarted)
    bound = api.settings.job_queue_lease_s + SWEEP_INTERVAL_S + 15
    try:
        await wait_until(
            lambda: _finished(api.database, image_id), "recovery", restarted, within_s=bound
        )
    finally:
        await restarted.stop()
    row = await image(api.database, image_id)
    assert row.status == ImageStatus.COMPLETED, (row.error_code, restarted.log())
    assert row.attempts == 2
    predictions = replicate.ids()
    assert len(predictions) <= 2, "at most one extra billable prediction"
    # The recovered attempt's own prediction is the one recorded; the orphan is never reused.
    assert row.provider_prediction_id in predictions
    assert row.provider_prediction_id not in orphan
    assert replicate.prediction(row.provider_prediction_id)["status"] == "succeeded"
    assert await ledger(api.database, image_id) == {"generation": 1}
    assert await balance(api.database, image_id) == 0
    assert row.output_key is not None
    assert await api.storage.exists(row.output_key)


async def test_job07_a_job_that_kills_its_worker_every_time_is_dead_lettered_others_flow(
    api: Resources, start_worker: StartWorker, redis: Redis
) -> None:
    """Two supervised worker slots (restarted when they die, as compose or systemd would),
    each running one job at a time; one poison job among healthy ones."""
    poison = await accept_job(api)
    healthy = [await accept_job(api) for _ in range(3)]
    faults = f"before_generate@{poison}=kill"
    # A 5 s lease, not the fixture's 1 s: a healthy job's heartbeat delayed past a 1 s lease on
    # a loaded machine let the job be delivered again, and three such lapses dead-lettered a
    # job that was never poison. The poison's dead leases still lapse within seconds.
    lease = {"JOB_LEASE_S": "5"}
    slots: list[Worker] = [
        await start_worker(max_async_tasks=1, JOB_FAULTS=faults, **lease) for _ in range(2)
    ]
    deaths = 0

    async def everything_ended() -> bool:
        nonlocal deaths
        for index, worker in enumerate(slots):
            if worker.process.returncode is not None:
                deaths += worker.process.returncode == -9
                slots[index] = await start_worker(max_async_tasks=1, JOB_FAULTS=faults, **lease)
        rows = [await image(api.database, image_id) for image_id in (poison, *healthy)]
        return all(finished(row) for row in rows)

    try:
        await wait_until(everything_ended, "every job ending", *slots, within_s=120)
        await wait_until(lambda: _queue_empty(redis), "the queue draining", *slots, within_s=30)
        # A slot whose death the last poll had not seen yet (its exit reaped after the rows
        # ended) is still in `slots`, not replaced: it counts too.
        await asyncio.sleep(1)
        deaths += sum(worker.process.returncode == -9 for worker in slots)
    finally:
        for worker in slots:
            await worker.stop()

    row = await image(api.database, poison)
    assert (row.status, row.error_code) == ("failed", "GENERATION_FAILED")
    assert row.attempts == api.settings.JOB_MAX_ATTEMPTS
    # Every attempt was a death. (An attempt without one was another process's: the
    # session's live server once claimed this job on the shared database; see conftest.)
    assert deaths == api.settings.JOB_MAX_ATTEMPTS
    assert await ledger(api.database, poison) == {"generation": 1, "refund": 1}
    assert await balance(api.database, poison) == 1
    async with api.database.unit_of_work(write=False) as session:
        letters = (
            await session.scalars(select(DeadLetter).where(DeadLetter.image_id == poison))
        ).all()
    assert [(letter.task_name, letter.attempts) for letter in letters] == [(GENERATE_IMAGE, 3)]
    for image_id in healthy:
        done = await image(api.database, image_id)
        assert done.status == "completed", (image_id, done.error_code)
        assert await ledger(api.database, image_id) == {"generation": 1}


async def _exited(worker: Worker) -> bool:
    return worker.process.returncode is not None


async def _finished(database: Database, image_id: int) -> bool:
    return finished(await image(database, image_id))


async def _queue_empty(redis: Redis) -> bool:
    pending = await redis.xpending(QUEUE_NAME, CONSUMER_GROUP)
    return int(pending["pending"]) == 0 and await redis.xlen(QUEUE_NAME) == 0


class CountingQueue:
    """An API process's queue that counts what its sweeper queued."""

    def __init__(self, inner: JobQueue) -> None:
        self.inner = inner
        self.queued: list[int] = []

    async def enqueue(self, task_name: str, *args: int) -> None:
        self.queued.extend(args)
        await self.inner.enqueue(task_name, *args)

    async def enqueue_later(self, delay_s: float, task_name: str, *args: int) -> None:
        await self.inner.enqueue_later(delay_s, task_name, *args)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def test_job08_two_api_processes_and_two_workers_queue_each_lost_job_once(
    unswept_api: Resources, api_settings: Settings, start_worker: StartWorker, redis: Redis
) -> None:
    """20 accepted jobs whose messages were lost (Redis flushed, say): two API processes
    sweep every half second (each its own database pool, so on PostgreSQL they really contend
    for the lock) while two workers run what they queue. Every job is queued once and
    completes; no pass floods the queue. Only the two counted sweepers run: a third, uncounted
    one (the fixture's, with the short test lease) once queued the jobs before them."""
    api = unswept_api
    ids = [await accept_job(api) for _ in range(20)]
    await redis.delete(QUEUE_NAME)  # the messages are lost
    assert api.job_queue is not None
    await api.job_queue.start()  # declares the consumer group again
    async with api.database.unit_of_work() as session:
        await session.execute(update(Image).where(Image.id.in_(ids)).values(queued_until=None))
    # The API side's queue lease: long enough that no job waits past it within this test.
    sweeping_settings = api_settings.model_copy(update={"JOB_REDELIVER_AFTER_S": 120.0})
    # No worker dies here, so no lease may lapse either: a lapsed lease may be queued once more
    # (the promise is once per lapsed lease). The fixture's 1 s lease did lapse on SQLite under
    # load (a heartbeat waiting on the database lock behind two sweepers) and a job was queued
    # twice; a lease of 30 s outlives any such wait.
    workers = [await start_worker(JOB_LEASE_S="30"), await start_worker(JOB_LEASE_S="30")]
    processes: list[tuple[Database, CountingQueue]] = []
    loops = []
    try:
        for _ in range(2):
            database = Database.from_url(api_settings.DATABASE_URL)
            queue = CountingQueue(api.job_queue)
            processes.append((database, queue))
            sweeper = Sweeper(database, build_worker(api), queue, sweeping_settings)
            loops.append(asyncio.create_task(sweeper.run_forever()))

        async def all_done() -> bool:
            rows = [await image(api.database, i) for i in ids]
            return all(finished(row) for row in rows)

        await wait_until(all_done, "every job completing", *workers, within_s=180)
    finally:
        for loop in loops:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        for database, _queue in processes:
            await database.dispose()
        for worker in workers:
            await worker.stop()
    queued = sorted(i for _database, queue in processes for i in queue.queued)
    assert queued == sorted(ids), "each lost job queued exactly once by the two sweepers"
    for image_id in ids:
        assert (await image(api.database, image_id)).status == "completed"
