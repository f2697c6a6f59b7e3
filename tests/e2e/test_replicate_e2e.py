"""`GENERATOR=replicate` in the real server process (run.py, the in-process job queue) against
the fake Replicate over real HTTP both ways: the SPA flow with side views, webhooks delivered
by the fake to our route (signed, retried) racing our poller, and a throttled create that is
re-queued with its delay and still completes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.test_accounts_e2e import _signed_up
from tests.e2e.test_tryon_e2e import _client, _poll, _selfie
from tests.integrations.generator.fake_replicate import API_TOKEN, FakeReplicate
from tests.live_server import LiveServer, server_env, start_live_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def replicate() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate() as fake:
        yield fake


@pytest.fixture(scope="module")
async def replicate_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, replicate: FakeReplicate
) -> AsyncIterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("replicate")
    server = await start_live_server(
        server_env(
            database_url,
            workdir,
            FREE_USER_CREDITS="4",
            GENERATOR="replicate",
            REPLICATE_API_TOKEN=API_TOKEN,
            REPLICATE_BASE_URL=replicate.base_url,
            REPLICATE_POLL_INTERVAL_S="0.05",
            # The server listens on loopback (PUBLIC_BASE_URL = http://127.0.0.1:port): forced on
            # so the fake's webhooks reach it.
            REPLICATE_WEBHOOKS="on",
        ),
        workdir,
    )
    try:
        yield server
    finally:
        await server.stop()


async def test_generator_replicate_web_app_flow_against_the_server_process(
    replicate_server: LiveServer, replicate: FakeReplicate
) -> None:
    replicate.reset()
    # The server's fetcher cannot reach a loopback CDN (SSRF-01): outputs come inline, as
    # Replicate's sync mode gives them.
    replicate.default_output = "data"
    replicate.auto_deliver = True
    replicate.throttled(times=1, retry_after=1)
    async with _client(replicate_server) as client:
        ready = (await client.get("/ready")).json()
        assert ready["generator"]["backend"] == "replicate"
        await _signed_up(client, replicate_server.mail_dir)
        selfie = await _selfie(client)
        style_id = (await client.get("/api/v1/image/styles")).json()[0]["id"]
        started = await client.post(
            "/api/v1/image/generate",
            json={"image_input_url": selfie["file_url"], "style_id": style_id},
        )
        assert started.status_code == 200, started.text
        image_id = started.json()["image_id"]
        done = await _poll(client, image_id)
        assert done["status"] == "completed", done
        async with httpx.AsyncClient() as browser:
            output = await browser.get(str(done["output_image_url"]))
        assert output.status_code == 200
        assert output.headers["content-type"] == "image/jpeg"
        assert "replicate" not in str(done)

        views = await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
        assert views.status_code == 200, views.text
        with_views = await _poll(client, image_id)
        assert with_views["views_status"] == "completed", with_views
        assert (await client.get("/api/v1/user/credits")).json() == 0

    # The throttled create was answered 429 and tried again; one prediction per job.
    assert len(replicate.ids()) == 4
    refused = [r for r in replicate.requests if r.path.endswith("/predictions") and r.json is None]
    assert len(refused) == 1
    # Every prediction's completed-webhook reached our route and was answered 2xx (they are
    # sent from the fake's threads, possibly still in flight when the status said completed).
    for _ in range(200):
        if len(_answered(replicate)) == 4:
            break
        await asyncio.sleep(0.05)
    assert len(_answered(replicate)) == 4
    assert "replicate webhook" in replicate_server.log()


def _answered(replicate: FakeReplicate) -> set[str]:
    return {webhook_id for webhook_id, _n, outcome in replicate.delivery_log if outcome == "200"}
