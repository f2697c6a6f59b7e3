"""The try-on flow against the real server process, with the real in-process job queue and
the local generator; the credit promises under real concurrency (CR-01/02/06); a job that
survives a server being killed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text

from app.core.db import create_engine
from app.models import CreditLedgerEntry, Image, User
from tests.auth.flows import FRONTEND
from tests.conftest import BACKEND
from tests.e2e.test_accounts_e2e import _signed_up
from tests.generation.steps import portrait
from tests.live_server import LiveServer, server_env, start_live_server

pytestmark = pytest.mark.e2e


def _client(server: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, headers={"Origin": FRONTEND}, timeout=60)


async def _selfie(client: httpx.AsyncClient) -> dict[str, str]:
    presigned = (
        await client.get("/api/v1/files/presign", params={"file_type": "image/jpeg"})
    ).json()
    async with httpx.AsyncClient(timeout=30) as browser:
        posted = await browser.post(
            presigned["upload_url"],
            data=presigned["fields"],
            files={"file": ("selfie.jpg", portrait(), "image/jpeg")},
        )
    assert posted.status_code == 204, posted.text
    return {"file_url": presigned["file_url"], "key": presigned["key"]}


async def _poll(
    client: httpx.AsyncClient, image_id: int, until: str = "completed"
) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, object] = (await client.get(f"/api/v1/image/status/{image_id}")).json()
        if body["status"] in {until, "failed"} and body.get("views_status") not in {
            "pending",
            "processing",
        }:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"image {image_id} did not reach {until}")


@pytest.fixture(scope="module")
async def rich_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """New users get 4 credits here: one image and its three views."""
    workdir = tmp_path_factory.mktemp("tryon")
    server = await start_live_server(
        server_env(database_url, workdir, FREE_USER_CREDITS="4"),
        workdir,
    )
    try:
        yield server
    finally:
        await server.stop()


async def test_spa_try_on_flow_end_to_end(rich_server: LiveServer) -> None:
    async with _client(rich_server) as client:
        await _signed_up(client, rich_server.mail_dir)
        selfie = await _selfie(client)
        style = (await client.get("/api/v1/image/styles")).json()[2]
        started = await client.post(
            "/api/v1/image/generate",
            json={"image_input_url": selfie["file_url"], "style_id": style["id"]},
        )
        assert started.status_code == 200, started.text
        image_id = started.json()["image_id"]
        done = await _poll(client, image_id)
        assert done["status"] == "completed", done
        output_url = done["output_image_url"]
        assert isinstance(output_url, str)
        async with httpx.AsyncClient() as browser:
            output = await browser.get(output_url)
        assert output.status_code == 200
        assert output.headers["content-type"] == "image/jpeg"

        history = (await client.get("/api/v1/user/images")).json()
        assert history["images"][0]["id"] == image_id
        assert history["images"][0]["style_name"] == style["name"]
        assert (await client.get("/api/v1/user/credits")).json() == 3

        views = await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
        assert views.status_code == 200, views.text
        with_views = await _poll(client, image_id)
        assert with_views["views_status"] == "completed", with_views
        assert all(with_views[f"{side}_view_url"] for side in ("right", "left", "back"))
        assert (await client.get("/api/v1/user/credits")).json() == 0
        assert (await client.get("/api/v1/user/uploads")).json()


async def _count(database_url: str, email: str) -> tuple[int, int, int]:
    """(jobs, generation debit rows, balance) of the user with `email`."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            user_id, balance = (
                await connection.execute(select(User.id, User.credits).where(User.email == email))
            ).one()
            jobs = await connection.scalar(
                select(func.count()).select_from(Image).where(Image.user_id == user_id)
            )
            debits = await connection.scalar(
                select(func.count())
                .select_from(CreditLedgerEntry)
                .where(
                    CreditLedgerEntry.user_id == user_id, CreditLedgerEntry.reason == "generation"
                )
            )
    finally:
        await engine.dispose()
    return int(jobs or 0), int(debits or 0), int(balance)


async def _hundred_concurrent_generations(server: LiveServer) -> tuple[list[int], str]:
    async with _client(server) as client:
        email = await _signed_up(client, server.mail_dir)
        selfie = await _selfie(client)
        style_id = (await client.get("/api/v1/image/styles")).json()[0]["id"]
        cookies = dict(client.cookies.items())
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Origin": FRONTEND}, timeout=120, limits=limits
    ) as burst:
        for name, value in cookies.items():
            burst.cookies.set(name, value)
        answers = await asyncio.gather(
            *(
                burst.post(
                    "/api/v1/image/generate",
                    json={"image_input_url": selfie["file_url"], "style_id": style_id},
                )
                for _ in range(100)
            )
        )
    return [answer.status_code for answer in answers], email


@pytest.mark.pg_only
async def test_cr01_no_double_spend_100_concurrent(
    live_server: LiveServer, database_url: str
) -> None:
    statuses, email = await _hundred_concurrent_generations(live_server)
    counts = await _count(database_url, email)
    print(f"CR-01 accepted={statuses.count(200)} (jobs, ledger, balance)={counts}")
    assert statuses.count(402) == 97
    assert _double_spend_violations(statuses, counts) == []


def _double_spend_violations(statuses: list[int], counts: tuple[int, int, int]) -> list[str]:
    """What CR-01/CR-02 forbid after a 100-request burst by a user with 3 credits: anything but
    exactly 3 accepted, 3 jobs, 3 debit rows and a zero balance, or any 5xx."""
    jobs, debits, balance = counts
    violations = []
    if statuses.count(200) != 3:
        violations.append(f"{statuses.count(200)} generations accepted, not 3")
    if errors := [s for s in statuses if s >= 500]:
        violations.append(f"{len(errors)} answers were 5xx")
    if (jobs, debits, balance) != (3, 3, 0):
        violations.append(f"jobs={jobs} debits={debits} balance={balance}, not 3/3/0")
    return violations


async def test_cr02_no_double_spend_on_sqlite(live_server: LiveServer, database_url: str) -> None:
    if BACKEND != "sqlite":
        pytest.skip("CR-02 is the embedded SQLite default; CR-01 covers PostgreSQL")
    statuses, email = await _hundred_concurrent_generations(live_server)
    counts = await _count(database_url, email)
    print(f"CR-02 accepted={statuses.count(200)} (jobs, ledger, balance)={counts}")
    assert _double_spend_violations(statuses, counts) == []


@pytest.mark.pg_only
async def test_cr06_read_modify_write_debit_makes_cr01_fail(
    database_url: str, tmp_path: Path
) -> None:
    """The switch swaps in the naive debit: the same burst and the same checks as CR-01 then
    find a violation, proving CR-01 can catch it."""
    violations = await _naive_debit_burst(database_url, tmp_path, "CR-06")
    assert violations, "the naive debit passed CR-01's checks: CR-01 cannot catch it"


async def test_cr02_read_modify_write_debit_makes_cr02_fail_on_sqlite(
    database_url: str, tmp_path: Path
) -> None:
    """Negative control for CR-02 (as CR-06 is for CR-01): with the naive debit swapped in, the
    same burst and the same checks on SQLite find a violation."""
    if BACKEND != "sqlite":
        pytest.skip("CR-02 is the embedded SQLite default; CR-06 covers PostgreSQL")
    violations = await _naive_debit_burst(database_url, tmp_path, "CR-02 control")
    assert violations, "the naive debit passed CR-02's checks: CR-02 cannot catch it"


async def _naive_debit_burst(database_url: str, tmp_path: Path, label: str) -> list[str]:
    """The CR-01/CR-02 burst against a server with the naive debit swapped in: what the
    double-spend checks find."""
    server = await start_live_server(
        server_env(database_url, tmp_path, CREDITS_UNSAFE_READ_MODIFY_WRITE="true"),
        tmp_path,
    )
    try:
        statuses, email = await _hundred_concurrent_generations(server)
    finally:
        await server.stop()
    counts = await _count(database_url, email)
    violations = _double_spend_violations(statuses, counts)
    print(f"{label} accepted={statuses.count(200)} {counts} violations={violations}")
    return violations


async def test_a_job_interrupted_by_killing_the_server_completes_after_restart(
    database_url: str, tmp_path: Path
) -> None:
    env = server_env(database_url, tmp_path, JOB_LEASE_S="2", SWEEP_INTERVAL_S="0.5")
    first = await start_live_server(env, tmp_path)
    try:
        async with _client(first) as client:
            await _signed_up(client, first.mail_dir)
            selfie = await _selfie(client)
            style_id = (await client.get("/api/v1/image/styles")).json()[0]["id"]
            cookies = dict(client.cookies.items())
            started = await client.post(
                "/api/v1/image/generate",
                json={"image_input_url": selfie["file_url"], "style_id": style_id},
            )
            # Killed the moment it accepts: no chance to finish or clean up.
            os.kill(first.process.pid, signal.SIGKILL)
        await first.process.wait()
    finally:
        await first.stop()
    image_id = started.json()["image_id"]
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        state = await connection.scalar(
            text("SELECT status FROM images WHERE id = :id"), {"id": image_id}
        )
    await engine.dispose()
    assert state in {"pending", "processing"}, f"the job finished before the kill ({state})"

    second = await start_live_server(env, tmp_path)
    try:
        async with _client(second) as client:
            for name, value in cookies.items():
                client.cookies.set(name, value)
            done = await _poll(client, image_id)
    finally:
        await second.stop()
    assert done["status"] == "completed", done


async def test_cr05_twenty_concurrent_requests_with_one_idempotency_key_charge_once(
    live_server: LiveServer, database_url: str
) -> None:
    async with _client(live_server) as client:
        email = await _signed_up(client, live_server.mail_dir)
        selfie = await _selfie(client)
        style_id = (await client.get("/api/v1/image/styles")).json()[0]["id"]
        cookies = dict(client.cookies.items())
    async with httpx.AsyncClient(
        base_url=live_server.base_url,
        headers={"Origin": FRONTEND, "Idempotency-Key": "tab-retry-1"},
        timeout=60,
        limits=httpx.Limits(max_connections=20),
    ) as burst:
        for name, value in cookies.items():
            burst.cookies.set(name, value)
        answers = await asyncio.gather(
            *(
                burst.post(
                    "/api/v1/image/generate",
                    json={"image_input_url": selfie["file_url"], "style_id": style_id},
                )
                for _ in range(20)
            )
        )
    assert [a.status_code for a in answers] == [200] * 20
    assert len({a.text for a in answers}) == 1, "every retry gets the first answer"
    jobs, debits, balance = await _count(database_url, email)
    print(f"CR-05 answers=20 distinct={len({a.text for a in answers})} jobs={jobs} debits={debits}")
    assert (jobs, debits, balance) == (1, 1, 2)
