"""Jobs through Redis: the API queues, a separate worker process (`python -m app.jobs`,
what `make worker` runs) generates, and the web app's poll sees the result."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from app.core.config import PROJECT_ROOT
from tests.e2e.test_accounts_e2e import _signed_up
from tests.e2e.test_tryon_e2e import _client, _poll, _selfie
from tests.live_server import server_env, start_live_server

pytestmark = pytest.mark.e2e


async def test_redis_broker_with_a_separate_worker_completes_a_job(
    database_url: str, tmp_path: Path, redis_url: str
) -> None:
    env = server_env(database_url, tmp_path, JOB_BROKER_URL=redis_url, ENV="dev")
    server = await start_live_server(env, tmp_path)
    worker_log = (tmp_path / "worker.log").open("wb")
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.jobs",
        "--max-async-tasks",
        "4",
        cwd=str(PROJECT_ROOT),
        env={**os.environ, **env},
        stdout=worker_log,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        async with _client(server) as client:
            await _signed_up(client, server.mail_dir)
            selfie = await _selfie(client)
            style_id = (await client.get("/api/v1/image/styles")).json()[0]["id"]
            started = await client.post(
                "/api/v1/image/generate",
                json={"image_input_url": selfie["file_url"], "style_id": style_id},
            )
            assert started.status_code == 200, started.text
            done = await _poll(client, started.json()["image_id"])
        assert done["status"] == "completed", (done, (tmp_path / "worker.log").read_text())
        assert "generate_image" in (tmp_path / "worker.log").read_text()
    finally:
        if worker.returncode is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(worker.wait(), timeout=15)
            except TimeoutError:
                os.killpg(worker.pid, signal.SIGKILL)
                await worker.wait()
        worker_log.close()
        await server.stop()
