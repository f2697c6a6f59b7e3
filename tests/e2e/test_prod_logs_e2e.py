"""CFG-04: in production every line a process writes is one JSON object — the API (uvicorn's
parent and worker processes, our lines, library warnings), the migrations (`python -m
app.core.migrations` and the `alembic` command) and the job worker (`python -m app.jobs`,
taskiq's own lines included).

On PostgreSQL the processes run with ENV=prod and a configuration production accepts; on
SQLite, which production refuses, in development with LOG_FORMAT=json.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis import asyncio as redis

from app.core.config import PROJECT_ROOT
from tests.conftest import BACKEND
from tests.live_server import free_port

pytestmark = pytest.mark.e2e

STARTUP_TIMEOUT_S = 90.0
METRICS_TOKEN = "m" * 40


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    """A redis-server of this test's own, on a free loopback port."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    client = redis.from_url(url)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                await client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        yield url
    finally:
        await client.aclose()
        process.terminate()
        await process.wait()


def _environment(database_url: str, redis_url: str, workdir: Path) -> dict[str, str]:
    shared = {
        "DATABASE_URL": database_url,
        "MAIL_DIR": str(workdir / "mail"),
        "MEDIA_DIR": str(workdir / "media"),
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_STORAGE_URL": f"{redis_url}/0",
        "JOB_BROKER_URL": f"{redis_url}/1",
        "LOG_LEVEL": "INFO",
        "METRICS_ENABLED": "true",
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    if BACKEND != "postgresql":
        return {**shared, "ENV": "dev", "LOG_FORMAT": "json"}
    return {
        **shared,
        "ENV": "prod",
        "SECRET_KEY": "s" * 48,
        "REFRESH_SECRET_KEY": "r" * 48,
        "ADMIN_PASSWORD": "a-long-admin-password",
        "EMAIL_BACKEND": "brevo",
        "BREVO_API_KEY": "xkeysib-never-called-0123456789",
        # Nothing listens there: no email is sent by what this test does.
        "BREVO_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "MAIL_FROM": "no-reply@hairtryon.app",
        "FRONTEND_URL": "https://app.hairtryon.app",
        "PUBLIC_BASE_URL": "https://api.hairtryon.app",
        # Two uvicorn worker processes under a parent: every process's lines are checked.
        "WEB_CONCURRENCY": "2",
    }


def _process_env(settings: dict[str, str]) -> dict[str, str]:
    # Only what a deployment would have: no settings leaking in from the test runner.
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    # The working directory is the test's (no .env is read); the code comes from the project.
    return {**base, "PYTHONPATH": str(PROJECT_ROOT), **settings}


def _assert_every_line_is_json(output: str, what: str) -> list[dict[str, object]]:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, f"{what} wrote nothing"
    records: list[dict[str, object]] = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{what} wrote a line that is not JSON: {line!r}\n--- all:\n{output}")
        assert isinstance(record, dict), line
        assert {"ts", "level", "logger", "message"} <= set(record), line
        records.append(record)
    return records


async def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=str(cwd),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    return text


async def test_cfg04_every_migration_line_is_json(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = _process_env(_environment(database_url, redis_url, tmp_path))
    module = await _run([sys.executable, "-m", "app.core.migrations"], env, tmp_path)
    cli = await _run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(PROJECT_ROOT / "alembic.ini"),
            "upgrade",
            "head",
        ],
        env,
        tmp_path,
    )
    for output, what in ((module, "python -m app.core.migrations"), (cli, "alembic")):
        records = _assert_every_line_is_json(output, what)
        assert any(str(r["logger"]).startswith("alembic") for r in records), output


async def _wait_for(predicate_url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                pytest.fail(f"server exited early:\n{log.read_text(errors='replace')}")
            try:
                if (await client.get(predicate_url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    pytest.fail(f"server did not start:\n{log.read_text(errors='replace')}")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_cfg04_every_api_and_worker_line_is_json(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = _environment(database_url, redis_url, tmp_path)
    port = free_port()
    env = _process_env({**settings, "HOST": "127.0.0.1", "PORT": str(port)})
    api_log = tmp_path / "api.log"
    worker_log = tmp_path / "worker.log"
    with api_log.open("wb") as out:
        api = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PROJECT_ROOT / "run.py"),
            cwd=str(tmp_path),
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    with worker_log.open("wb") as out:
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.jobs",
            cwd=str(tmp_path),
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_for(f"{base}/ready", api, api_log)
        async with httpx.AsyncClient(base_url=base) as client:
            missing = await client.get("/api/v1/nothing-here", headers={"X-Request-ID": "cfg04"})
            bad_login = await client.post(
                "/api/v1/auth/login",
                json={"email": "someone@hairtryon.app", "password": "not-the-password"},
                headers={"Origin": settings.get("FRONTEND_URL", "http://localhost:5173")},
            )
            scraped = await client.get(
                "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            )
        assert missing.status_code == 404
        assert bad_login.status_code in (400, 401, 403)
        assert scraped.status_code == 200
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while "job worker ready" not in worker_log.read_text(errors="replace"):
            assert worker.returncode is None, worker_log.read_text(errors="replace")
            assert time.monotonic() < deadline, worker_log.read_text(errors="replace")
            await asyncio.sleep(0.2)
    finally:
        await _stop(api)
        await _stop(worker)

    api_records = _assert_every_line_is_json(api_log.read_text(errors="replace"), "the API")
    worker_records = _assert_every_line_is_json(
        worker_log.read_text(errors="replace"), "the worker"
    )
    loggers = {str(r["logger"]) for r in api_records}
    assert {"uvicorn.error", "hairtryon.access"} <= loggers, loggers
    assert any(r.get("request_id") == "cfg04" for r in api_records)
    assert any(str(r["logger"]).startswith("taskiq") for r in worker_records), worker_records
    everything = api_log.read_text() + worker_log.read_text()
    assert "someone@hairtryon.app" not in everything
    assert "not-the-password" not in everything
    assert METRICS_TOKEN not in everything
