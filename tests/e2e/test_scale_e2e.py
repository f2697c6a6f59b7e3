"""The README's scale-out recipe under load: 2 API processes (`run.py --workers 2`) and 2 job
workers (`make worker`: `python -m app.jobs --max-async-tasks 4`) on PostgreSQL and a Redis of
the test's own, generating on the fake Replicate over real HTTP (webhooks racing the pollers),
with 8 creates throttled (429 with `retry_after`), one flagged prompt, and one worker SIGKILLed
while it holds running jobs.

50 generations from 10 users must all end `completed`, or `failed` and refunded once; every
user's ledger sums to their balance; every job attempt that reached Replicate created at most
one prediction (a re-attached attempt none), so there is one prediction per job, plus at most
one per attempt killed between Replicate's answer and our commit of its id (JOB-02's bound).
The counts are printed for the record.

The processes are started from the README's recipe block itself (tests/scale_recipe.py): the
same commands and shared settings, with only N, M, the host, the port and the servers filled
in. Test-only on top: the generator (the fake Replicate), 5 free credits per user, and short
job windows so that the killed worker's jobs resume within seconds instead of a minute.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import PROJECT_ROOT, Settings
from app.core.db import create_engine
from app.models import CreditLedgerEntry, DeadLetter, Image, Style, User
from app.wiring import build_storage
from tests.e2e.test_accounts_e2e import _signed_up
from tests.e2e.test_tryon_e2e import _client
from tests.generation.steps import portrait
from tests.integrations.generator.fake_replicate import API_TOKEN, FakeReplicate, Script
from tests.jobs.conftest import Worker
from tests.live_server import LiveServer, free_port, launch_server
from tests.redis_server import RedisServer, start_redis_server
from tests.scale_recipe import RedisUrls, ScaleRecipe, read_recipe

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.pg_only]

API_PROCESSES = 2
WORKER_PROCESSES = 2
USERS = 10
PER_USER = 5
THROTTLED_CREATES = 8
RETRY_AFTER_S = 1
FLAGGED = "Output flagged as sensitive content (NSFW). Try a different prompt."
# Test-only windows (defaults: 60 s lease and redelivery, a sweep every 10 s).
FAST_WINDOWS = {
    "JOB_LEASE_S": "10",
    "JOB_REDELIVER_AFTER_S": "5",
    "SWEEP_INTERVAL_S": "1",
    "JOB_STOP_GRACE_S": "5",
}
# Bounds on waiting (the test fails with the logs), not measurements.
# The worker dies once this many jobs have ended (mid-run, not at the start).
KILL_AFTER_SETTLED = 10
WORKER_READY_S = 90.0
KILL_WITHIN_S = 120.0
ALL_DONE_WITHIN_S = 300.0


class Clients:
    """The users' HTTP clients, closed with the stack."""

    def __init__(self) -> None:
        self.open: list[httpx.AsyncClient] = []

    def enter(self, client: httpx.AsyncClient) -> httpx.AsyncClient:
        self.open.append(client)
        return client

    async def aclose(self) -> None:
        for client in self.open:
            await client.aclose()


@dataclass
class Stack:
    server: LiveServer
    workers: list[Worker]
    replicate: FakeReplicate
    engine: AsyncEngine
    media_dir: Path
    database_url: str
    clients: Clients

    def logs(self) -> str:
        parts = [f"--- api\n{self.server.log()[-6000:]}"]
        parts += [f"--- {w.log_path.name}\n{w.log()[-6000:]}" for w in self.workers]
        return "\n".join(parts)


def recipe_environment(
    recipe: ScaleRecipe,
    *,
    database_url: str,
    redis_url_of: RedisUrls,
    replicate_url: str,
    workdir: Path,
    port: int,
) -> dict[str, str]:
    """What every process of the stack gets: the recipe's shared settings on the test's
    servers, plus the test-only parts named in the module docstring."""
    return {
        **os.environ,
        "ENV": "dev",
        "LOG_LEVEL": "INFO",
        **recipe.environment(database_url=database_url, redis_url_of=redis_url_of),
        # One value for every process (the API's --port flag says the same): the workers
        # build the webhook address Replicate posts to from it.
        "PORT": str(port),
        "MAIL_DIR": str(workdir / "mail"),
        "MEDIA_DIR": str(workdir / "media"),
        "FREE_USER_CREDITS": str(PER_USER),
        "GENERATOR": "replicate",
        "REPLICATE_API_TOKEN": API_TOKEN,
        "REPLICATE_BASE_URL": replicate_url,
        "REPLICATE_POLL_INTERVAL_S": "0.05",
        # The API listens on loopback: forced on so the fake's webhooks reach it.
        "REPLICATE_WEBHOOKS": "on",
        "PAYMENTS_RECONCILE_INTERVAL_S": "0",
        **FAST_WINDOWS,
    }


async def start_worker(recipe: ScaleRecipe, env: dict[str, str], workdir: Path, n: int) -> Worker:
    log_path = workdir / f"worker-{n}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *recipe.worker_argv(),
            cwd=str(PROJECT_ROOT),
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    return Worker(process, log_path)


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = await asyncio.to_thread(start_redis_server, tmp_path)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
async def stack(database_url: str, redis: RedisServer, tmp_path: Path) -> AsyncIterator[Stack]:
    recipe = read_recipe()
    port = free_port()
    engine = create_engine(database_url)
    workers: list[Worker] = []
    server: LiveServer | None = None
    clients = Clients()
    async with FakeReplicate() as replicate:
        replicate.auto_deliver = True
        env = recipe_environment(
            recipe,
            database_url=database_url,
            redis_url_of=redis.url,
            replicate_url=replicate.base_url,
            workdir=tmp_path,
            port=port,
        )
        try:
            server = await launch_server(
                recipe.api_argv(processes=API_PROCESSES, host="127.0.0.1", port=port),
                env,
                tmp_path,
                port,
                new_session=True,
            )
            for n in range(WORKER_PROCESSES):
                workers.append(await start_worker(recipe, env, tmp_path, n))
            stack = Stack(
                server, workers, replicate, engine, tmp_path / "media", database_url, clients
            )
            await _wait_for(lambda: _all_ready(workers), "the workers", stack, WORKER_READY_S)
            yield stack
        finally:
            await clients.aclose()
            for worker in workers:
                await worker.stop()
            if server is not None:
                await server.stop()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.process.pid, signal.SIGKILL)  # anything left behind
            await engine.dispose()


async def test_50_generations_across_2_api_processes_and_2_workers_end_settled(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    replicate = stack.replicate
    styles = await _styles(stack.engine)
    regular, flagged = styles[0], styles[1]
    # The flagged style's prompt fails at Replicate; every other prediction runs a few polls
    # (the SIGKILL must find jobs in flight), its output inline (a worker cannot reach the
    # faked CDN: SSRF-01 refuses loopback).
    replicate.script_prompt(
        flagged.prompt, Script(statuses=["processing", "failed"], error=FLAGGED)
    )
    replicate.script_prompt("", Script(statuses=["processing"] * 4 + ["succeeded"], output="data"))
    replicate.throttled(times=THROTTLED_CREATES, retry_after=RETRY_AFTER_S)

    doomed, survivor = stack.workers
    started = time.monotonic()
    # The users generate while the doomed worker is watched: it dies mid-run, holding jobs.
    killing = asyncio.create_task(_kill_while_running(stack, doomed))
    try:
        users = await asyncio.gather(
            *(
                _user_generates(stack, u, regular.id, flagged.id if u == 0 else None)
                for u in range(USERS)
            )
        )
        interrupted = await killing
    finally:
        killing.cancel()
    jobs = [image_id for _user, ids in users for image_id in ids]
    assert len(set(jobs)) == USERS * PER_USER
    assert doomed.process.returncode == -9
    await _wait_for(lambda: _all_settled(stack.engine, jobs), "every job", stack, ALL_DONE_WITHIN_S)
    elapsed = time.monotonic() - started
    assert survivor.process.returncode is None, survivor.log()

    rows = await _images(stack.engine, jobs)
    statuses = Counter(row.status for row in rows.values())
    failed = {image_id: row for image_id, row in rows.items() if row.status == "failed"}
    assert set(statuses) <= {"completed", "failed"}, statuses
    assert [row.error_code for row in failed.values()] == ["CONTENT_REJECTED"]
    assert next(iter(failed.values())).style_id == flagged.id

    # What the users see, through the API: final states, our URLs only, their balances.
    for client, ids in users:
        for image_id in ids:
            body = (await client.get(f"/api/v1/image/status/{image_id}")).json()
            assert body["status"] == rows[image_id].status, body
            assert "replicate" not in str(body)
        credits = (await client.get("/api/v1/user/credits")).json()
        assert credits == PER_USER - sum(rows[i].status == "completed" for i in ids)

    entries = await _ledger(stack.engine, jobs)
    for image_id, row in rows.items():
        # One debit each; a failed job refunded once, a completed one never.
        expected = {"generation": 1, "refund": 1} if row.status == "failed" else {"generation": 1}
        assert entries[image_id] == expected, (image_id, row.status, entries[image_id])
    balances = await _balances(stack.engine, {row.user_id for row in rows.values()})
    for user_id, (credits, ledger_sum) in balances.items():
        assert credits == ledger_sum, (user_id, credits, ledger_sum)
    assert await _dead_letters(stack.engine, jobs) == 0

    # Predictions on the fake, each traced to its job by the selfie it was given.
    per_job = _predictions_per_job(replicate, await _inputs(stack, rows))
    assert sum(per_job.values()) == len(replicate.ids()), "a prediction no job of ours made"
    extra_allowed = sum(row.attempts - 1 for row in rows.values())
    for image_id, row in rows.items():
        count = per_job[image_id]
        assert 1 <= count <= row.attempts, (image_id, count, row.attempts)
        if row.attempts == 1:
            assert count == 1, (image_id, count)
        assert row.provider_prediction_id is not None
    assert sum(per_job.values()) - len(rows) <= extra_allowed
    for image_id in interrupted:
        assert rows[image_id].attempts >= 2, (image_id, rows[image_id].attempts)
    throttled = sum(
        1 for r in replicate.requests if r.path.endswith("/predictions") and r.json is None
    )
    assert throttled == THROTTLED_CREATES

    attempts = sum(row.attempts for row in rows.values())
    refunds = sum(entry.get("refund", 0) for entry in entries.values())
    with capsys.disabled():
        print(
            f"\nscale e2e: {len(rows)} jobs from {USERS} users on {API_PROCESSES} API processes"
            f" + {WORKER_PROCESSES} workers (one SIGKILLed after {KILL_AFTER_SETTLED} jobs"
            f" ended, holding {len(interrupted)} running): completed {statuses['completed']},"
            f" failed {statuses['failed']}"
            f" ({', '.join(str(r.error_code) for r in failed.values())}), refunds {refunds},"
            f" predictions {len(replicate.ids())}, 429s {throttled}, attempts {attempts},"
            f" {elapsed:.0f} s"
        )


# --- the users ------------------------------------------------------------------------------


def selfie(index: int) -> bytes:
    """The test portrait with a corner block of its own colour: every upload is a different
    file, so each prediction's `image_input` names the job it was made for."""
    with PILImage.open(io.BytesIO(portrait())) as original:
        picture = original.convert("RGB")
    picture.paste((index * 5 % 256, 255 - index * 5 % 256, 128), (0, 0, 16, 16))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


async def _user_generates(
    stack: Stack, user: int, style_id: int, flagged_style_id: int | None
) -> tuple[httpx.AsyncClient, list[int]]:
    """Sign up, upload PER_USER selfies and ask for a generation of each (the first with the
    flagged style for the one user given it). The client stays signed in for the checks."""
    client = stack.clients.enter(_client(stack.server))
    await _signed_up(client, stack.server.mail_dir)
    ids: list[int] = []
    for n in range(PER_USER):
        uploaded = await client.post(
            "/api/v1/files/upload",
            files={"file": ("selfie.jpg", selfie(user * PER_USER + n), "image/jpeg")},
        )
        assert uploaded.status_code == 200, uploaded.text
        chosen = flagged_style_id if flagged_style_id is not None and n == 0 else style_id
        started = await client.post(
            "/api/v1/image/generate",
            json={"image_input_url": uploaded.json()["file_url"], "style_id": chosen},
        )
        assert started.status_code == 200, started.text
        ids.append(int(started.json()["image_id"]))
    return client, ids


# --- the kill ---------------------------------------------------------------------------------


async def _kill_while_running(stack: Stack, doomed: Worker) -> set[int]:
    """SIGKILL `doomed` (its whole process group) mid-run: once KILL_AFTER_SETTLED jobs have
    ended and it holds a running job whose prediction id is stored. Returns the jobs it held."""
    owner = f"%:{doomed.process.pid}:%"
    held: set[int] = set()

    async def holds_a_running_prediction() -> bool:
        nonlocal held
        async with stack.engine.connect() as connection:
            settled = await connection.scalar(
                select(func.count())
                .select_from(Image)
                .where(Image.status.in_(("completed", "failed")))
            )
            if int(settled or 0) < KILL_AFTER_SETTLED:
                return False
            held = set(
                (
                    await connection.scalars(
                        select(Image.id).where(
                            Image.status == "processing",
                            Image.lease_owner.like(owner),
                            Image.provider_prediction_id.is_not(None),
                        )
                    )
                ).all()
            )
        return bool(held)

    # A prediction lives a few polls (well under a second): look often.
    await _wait_for(
        holds_a_running_prediction, "the doomed worker running", stack, KILL_WITHIN_S, every_s=0.02
    )
    await doomed.kill()
    return held


# --- reading the outcome -----------------------------------------------------------------------


async def _styles(engine: AsyncEngine) -> list[Style]:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(Style).where(Style.is_active.is_(True)).order_by(Style.id)
            )
        ).all()
    styles = [Style(id=row.id, name=row.name, prompt=row.prompt) for row in rows]
    assert len(styles) >= 2
    # The flagged prompt must not be part of another's (the fake matches by fragment).
    assert not any(styles[1].prompt in style.prompt for style in styles if style is not styles[1])
    return styles


async def _all_ready(workers: list[Worker]) -> bool:
    for worker in workers:
        if worker.process.returncode is not None:
            raise AssertionError(f"a worker exited: {worker.log()}")
    return all(worker.ready for worker in workers)


async def _all_settled(engine: AsyncEngine, ids: list[int]) -> bool:
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            select(func.count())
            .select_from(Image)
            .where(Image.id.in_(ids), Image.status.not_in(("completed", "failed")))
        )
    return waiting == 0


async def _images(engine: AsyncEngine, ids: list[int]) -> dict[int, Image]:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(Image).where(Image.id.in_(ids)))).all()
    return {
        row.id: Image(
            id=row.id,
            user_id=row.user_id,
            style_id=row.style_id,
            status=row.status,
            error_code=row.error_code,
            attempts=row.attempts,
            input_key=row.input_key,
            provider_prediction_id=row.provider_prediction_id,
        )
        for row in rows
    }


async def _ledger(engine: AsyncEngine, ids: list[int]) -> dict[int, dict[str, int]]:
    """Per job: its ledger rows by reason (the debit and any refund reference the image)."""
    found: dict[int, dict[str, int]] = {image_id: {} for image_id in ids}
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(CreditLedgerEntry.reference_id, CreditLedgerEntry.reason, func.count())
            .where(
                CreditLedgerEntry.reference_type == "image",
                CreditLedgerEntry.reference_id.in_([str(i) for i in ids]),
            )
            .group_by(CreditLedgerEntry.reference_id, CreditLedgerEntry.reason)
        )
        for reference, reason, count in rows.all():
            found[int(str(reference))][reason] = int(count)
    return found


async def _balances(engine: AsyncEngine, user_ids: set[int]) -> dict[int, tuple[int, int]]:
    """Per user: (balance, sum of the ledger)."""
    async with engine.connect() as connection:
        credits = await connection.execute(
            select(User.id, User.credits).where(User.id.in_(user_ids))
        )
        balance = {int(user_id): int(value) for user_id, value in credits.all()}
        sums = await connection.execute(
            select(CreditLedgerEntry.user_id, func.sum(CreditLedgerEntry.delta))
            .where(CreditLedgerEntry.user_id.in_(user_ids))
            .group_by(CreditLedgerEntry.user_id)
        )
        total = {int(user_id): int(value or 0) for user_id, value in sums.all()}
    return {user_id: (balance[user_id], total.get(user_id, 0)) for user_id in user_ids}


async def _dead_letters(engine: AsyncEngine, ids: list[int]) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.image_id.in_(ids))
        )
    return int(count or 0)


async def _inputs(stack: Stack, rows: dict[int, Image]) -> dict[str, int]:
    """The base64 of each job's stored selfie (what a worker sends as a data URI) → job."""
    storage = build_storage(
        Settings(
            _env_file=None,
            ENV="dev",
            DATABASE_URL=stack.database_url,
            MEDIA_DIR=stack.media_dir,
            MAIL_DIR=stack.server.mail_dir,
        )
    )
    inputs: dict[str, int] = {}
    for image_id, row in rows.items():
        encoded = base64.b64encode(await storage.get(row.input_key)).decode("ascii")
        assert encoded not in inputs, "two jobs share a selfie: predictions cannot be traced"
        inputs[encoded] = image_id
    return inputs


def _predictions_per_job(replicate: FakeReplicate, inputs: dict[str, int]) -> Counter[int]:
    per_job: Counter[int] = Counter(dict.fromkeys(inputs.values(), 0))
    for prediction_id in replicate.ids():
        uri = replicate.prediction(prediction_id)["input"]["image_input"][0]
        encoded = str(uri).partition(",")[2]
        assert encoded in inputs, f"prediction {prediction_id} was made for no job of ours"
        per_job[inputs[encoded]] += 1
    return per_job


async def _wait_for(
    condition: Callable[[], Awaitable[bool]],
    what: str,
    stack: Stack,
    within_s: float,
    *,
    every_s: float = 0.2,
) -> None:
    deadline = time.monotonic() + within_s
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {within_s} s; logs:\n{stack.logs()}")
        await asyncio.sleep(every_s)
