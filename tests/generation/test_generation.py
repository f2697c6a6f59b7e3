"""Generation through the API (SPEC §4-5; CR-04, CR-05, BOLA-02, JOB-04/05/06), with the
jobs run by the test through the real handlers and the real local generator."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import Database
from app.generation.handlers import build_handlers, build_worker
from app.generation.tasks import GENERATE_IMAGE
from app.integrations.generator import GenerationFailed
from app.main import create_app
from app.models import CreditLedgerEntry
from app.models import Image as ImageRow
from app.resources import Resources
from tests.auth.flows import FRONTEND, Mail, signed_up_and_verified
from tests.conftest import build_test_resources
from tests.files.images import jpeg
from tests.generation.queue import RecordingQueue
from tests.generation.steps import first_style_id, generate, path_of, run_jobs, upload


async def _credits(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/v1/user/credits")).json())


async def _ledger(session: AsyncSession, image_id: int, reason: str) -> int:
    found = await session.scalar(
        select(func.count())
        .select_from(CreditLedgerEntry)
        .where(CreditLedgerEntry.reason == reason, CreditLedgerEntry.reference_id == str(image_id))
    )
    return int(found or 0)


async def _images_of_caller(client: httpx.AsyncClient, session: AsyncSession) -> int:
    """Images of the signed-in user (end-to-end tests commit images of their own users)."""
    me = (await client.get("/api/v1/user/me")).json()
    found = await session.scalar(
        select(func.count()).select_from(ImageRow).where(ImageRow.user_id == me["id"])
    )
    return int(found or 0)


async def _ready(client: httpx.AsyncClient, mail: Mail) -> tuple[dict[str, str], int]:
    await signed_up_and_verified(client, mail)
    return await upload(client), await first_style_id(client)


async def test_generation_takes_one_credit_and_completes_with_a_stored_result(
    app: FastAPI, client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    selfie, style_id = await _ready(client, mail)
    response = await generate(client, selfie["file_url"], style_id)
    assert response.status_code == 200, response.text
    image_id = response.json()["image_id"]
    assert await _credits(client) == 2
    pending = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    assert pending["status"] == "pending"
    assert pending["output_image_url"] is None

    assert await run_jobs(resources) == 1
    status = await client.get(f"/api/v1/image/status/{image_id}")
    assert status.headers["Cache-Control"] == "no-store"
    body = status.json()
    assert body["status"] == "completed"
    assert body["error"] is None
    output = await client.get(path_of(body["output_image_url"]))
    assert output.status_code == 200
    result = Image.open(io.BytesIO(output.content))
    assert result.format == "JPEG"
    assert output.content != (await client.get(path_of(selfie["file_url"]))).content
    assert await _credits(client) == 2


async def test_generation_by_key_works_like_by_url(client: httpx.AsyncClient, mail: Mail) -> None:
    selfie, style_id = await _ready(client, mail)
    response = await generate(client, selfie["key"], style_id)
    assert response.status_code == 200


async def test_a_photo_without_a_face_is_refused_before_charging(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    faceless = await upload(client, jpeg((400, 300), "skyblue"))
    response = await generate(client, faceless["file_url"], await first_style_id(client))
    assert response.status_code == 422
    assert response.json()["detail"]["code"] == "NO_FACE_DETECTED"
    assert await _credits(client) == 3
    assert await _images_of_caller(client, session) == 0


async def test_a_failed_job_is_refunded_once_and_reports_its_code(
    app: FastAPI, client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    resources.settings = resources.settings.model_copy(update={"FACE_CHECK": False})
    await signed_up_and_verified(client, mail)
    faceless = await upload(client, jpeg((400, 300), "skyblue"))
    image_id = (await generate(client, faceless["file_url"], await first_style_id(client))).json()[
        "image_id"
    ]
    assert await _credits(client) == 2
    await run_jobs(resources)
    body = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "NO_FACE_DETECTED"
    assert await _credits(client) == 3
    assert await _ledger(session, image_id, "refund") == 1


@dataclass
class Committed:
    """The real app on its own engine: each unit of work is a real, committed transaction, so
    duplicates race as separate transactions would in production (the `client` fixture's
    units of work take turns on the test's one rolled-back connection)."""

    client: httpx.AsyncClient
    resources: Resources
    mail: Mail

    async def ledger(self, image_id: int, reason: str) -> int:
        async with self.resources.database.unit_of_work(write=False) as session:
            return await _ledger(session, image_id, reason)

    async def image(self, image_id: int) -> ImageRow:
        async with self.resources.database.unit_of_work(write=False) as session:
            row = await session.get(ImageRow, image_id)
        assert row is not None
        return row


@pytest.fixture
async def committed(settings: Settings) -> AsyncIterator[Committed]:
    database = Database.from_url(settings.DATABASE_URL)
    resources = build_test_resources(settings, database)
    app = create_app(settings, resources=resources)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND}
            ) as client,
        ):
            yield Committed(client, resources, Mail(settings.MAIL_DIR, database.background))
    finally:
        # An upload's background photo check commits on its own: it ends with this test, not
        # inside the next test's transaction.
        await database.background.drain()
        await database.dispose()


async def test_cr04_a_failure_reported_many_times_at_once_refunds_once(
    committed: Committed,
) -> None:
    client, resources = committed.client, committed.resources
    selfie, style_id = await _ready(client, committed.mail)
    image_id = (await generate(client, selfie["file_url"], style_id)).json()["image_id"]
    await resources.database.background.drain()
    worker = build_worker(resources)
    # Three reports of the same failure at the same moment (a timeout sweep, the worker, a
    # redelivery), each in its own transaction: exactly one refund.
    await asyncio.gather(
        *(worker.fail(image_id, GenerationFailed("PROVIDER_UNAVAILABLE")) for _ in range(3))
    )
    # The job itself, delivered late, finds it failed and does nothing.
    await run_jobs(resources)
    assert await committed.ledger(image_id, "refund") == 1
    assert await _credits(client) == 3
    assert (await client.get(f"/api/v1/image/status/{image_id}")).json()["status"] == "failed"


async def test_job06_the_same_job_delivered_three_times_at_once_makes_one_result(
    committed: Committed,
) -> None:
    client, resources = committed.client, committed.resources
    selfie, style_id = await _ready(client, committed.mail)
    image_id = (await generate(client, selfie["file_url"], style_id)).json()["image_id"]
    await resources.database.background.drain()
    handler = build_handlers(resources)[GENERATE_IMAGE]
    # At-least-once delivery: three deliveries of one job running at the same time.
    await asyncio.gather(*(handler(image_id) for _ in range(3)))
    row = await committed.image(image_id)
    assert (row.status, row.attempts) == ("completed", 1)
    assert await committed.ledger(image_id, "generation") == 1
    me = (await client.get("/api/v1/user/me")).json()
    generated = await resources.storage.delete_prefix(f"generated/user_{me['id']}/")
    assert generated == 1, "one stored result"


async def test_job05_a_late_failure_cannot_undo_a_completed_job(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    selfie, style_id = await _ready(client, mail)
    image_id = (await generate(client, selfie["file_url"], style_id)).json()["image_id"]
    await run_jobs(resources)
    await build_worker(resources).fail(image_id, GenerationFailed("GENERATION_TIMEOUT"))
    body = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    assert body["status"] == "completed"
    assert body["output_image_url"]
    assert await _ledger(session, image_id, "refund") == 0


async def test_insufficient_credits_is_402_and_creates_no_job(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession
) -> None:
    selfie, style_id = await _ready(client, mail)
    for _ in range(3):
        assert (await generate(client, selfie["file_url"], style_id)).status_code == 200
    refused = await generate(client, selfie["file_url"], style_id)
    assert refused.status_code == 402
    assert refused.json()["detail"]["code"] == "INSUFFICIENT_CREDITS"
    assert await _images_of_caller(client, session) == 3
    assert await _credits(client) == 0


async def test_unknown_or_inactive_style_is_404(client: httpx.AsyncClient, mail: Mail) -> None:
    selfie, _ = await _ready(client, mail)
    response = await generate(client, selfie["file_url"], 999_999)
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "STYLE_NOT_FOUND"
    assert await _credits(client) == 3


async def test_bola02_generation_only_from_your_own_upload(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    theirs = await upload(client)
    client.cookies.clear()
    await signed_up_and_verified(client, mail)
    style_id = await first_style_id(client)
    for reference in (
        theirs["file_url"],
        theirs["key"],
        "https://evil.example/selfie.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:6379/",
        "file:///etc/passwd",
        "../../uploads/user_1/x.jpg",
    ):
        response = await generate(client, reference, style_id)
        assert response.status_code == 403, reference
        assert response.json()["detail"]["code"] == "FOREIGN_IMAGE"
    assert await _credits(client) == 3
    await resources.database.background.drain()
    queue = resources.job_queue
    assert isinstance(queue, RecordingQueue)
    assert queue.jobs == [], "no job (no generator call) for a refused input"


async def test_cr05_same_idempotency_key_answers_the_same_and_charges_once(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession
) -> None:
    selfie, style_id = await _ready(client, mail)
    first = await generate(client, selfie["file_url"], style_id, **{"Idempotency-Key": "k-1"})
    second = await generate(client, selfie["file_url"], style_id, **{"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert await _credits(client) == 2
    assert await _images_of_caller(client, session) == 1
    other_body = await generate(client, selfie["key"], style_id, **{"Idempotency-Key": "k-1"})
    assert other_body.status_code == 422
    assert other_body.json()["detail"]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_status_of_someone_elses_image_is_404(client: httpx.AsyncClient, mail: Mail) -> None:
    selfie, style_id = await _ready(client, mail)
    image_id = (await generate(client, selfie["file_url"], style_id)).json()["image_id"]
    client.cookies.clear()
    await signed_up_and_verified(client, mail)
    response = await client.get(f"/api/v1/image/status/{image_id}")
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "IMAGE_NOT_FOUND"
    client.cookies.clear()
    anonymous = await client.get(f"/api/v1/image/status/{image_id}")
    assert anonymous.json()["detail"]["code"] == "NO_COOKIES_FOUND"


async def test_a_status_poll_answers_alike_ahead_of_the_router_and_through_it(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    """The canonical poll is answered by the status lane (app/generation/status_lane.py); an id
    written with a leading zero goes on to the declared route. Both give the same answer, with
    the same headers of ours, for the owner, another user and a caller without a token."""
    selfie, style_id = await _ready(client, mail)
    image_id = (await generate(client, selfie["file_url"], style_id)).json()["image_id"]

    async def both() -> tuple[httpx.Response, httpx.Response]:
        lane = await client.get(f"/api/v1/image/status/{image_id}")
        routed = await client.get(f"/api/v1/image/status/0{image_id}")
        return lane, routed

    def alike(lane: httpx.Response, routed: httpx.Response, status: int) -> None:
        assert (lane.status_code, routed.status_code) == (status, status)
        assert lane.json() == routed.json()
        for name in ("cache-control", "content-security-policy", "x-content-type-options"):
            assert lane.headers.get(name) == routed.headers.get(name), name
        assert lane.headers["x-request-id"] != routed.headers["x-request-id"]

    alike(*await both(), 200)
    client.cookies.clear()
    await signed_up_and_verified(client, mail)
    alike(*await both(), 404)
    client.cookies.clear()
    alike(*await both(), 400)


async def test_a_status_poll_takes_bearer_or_cookie_and_refuses_expired_and_revoked_tokens(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    import jwt

    from app.auth.sessions import SESSION_CLAIM

    selfie, style_id = await _ready(client, mail)
    image_id = (await generate(client, selfie["file_url"], style_id)).json()["image_id"]
    path = f"/api/v1/image/status/{image_id}"
    access = client.cookies.get("access_token")
    assert access is not None
    bearer = {"Authorization": f"Bearer {access}"}
    claims = jwt.decode(access, options={"verify_signature": False})
    assert (await client.get(path)).status_code == 200
    client.cookies.clear()
    assert (await client.get(path, headers=bearer)).status_code == 200

    expired = jwt.encode(
        {**claims, "iat": claims["iat"] - 7200, "exp": claims["iat"] - 3600},
        resources.settings.SECRET_KEY.get_secret_value(),
        algorithm=resources.settings.ALGORITHM,
    )
    for headers in ({"Authorization": f"Bearer {expired}"}, {"Cookie": f"access_token={expired}"}):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json()["detail"]["code"] == "NOT_AUTHENTICATED"

    assert claims[SESSION_CLAIM]
    assert (await client.post("/api/v1/auth/logout", headers=bearer)).status_code == 200
    for headers in (bearer, {"Cookie": f"access_token={access}"}):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json()["detail"]["code"] == "NOT_AUTHENTICATED"


async def test_sweeper_fails_and_refunds_an_overdue_job(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    from datetime import UTC, datetime, timedelta

    from app.generation.sweeper import Sweeper

    selfie, style_id = await _ready(client, mail)
    image_id = (await generate(client, selfie["file_url"], style_id)).json()["image_id"]
    row = await session.get(ImageRow, image_id)
    assert row is not None
    row.deadline_at = datetime.now(UTC) - timedelta(seconds=1)
    await session.flush()
    sweeper = Sweeper(
        resources.database, build_worker(resources), resources.queue, resources.settings
    )
    await sweeper.sweep_once()
    await sweeper.sweep_once()
    body = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    assert (body["status"], body["error"]["code"]) == ("failed", "GENERATION_TIMEOUT")
    assert await _ledger(session, image_id, "refund") == 1
    assert await _credits(client) == 3
