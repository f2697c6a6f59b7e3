"""GET /user/export (SPEC §4a): a streamed zip of every row of that person and their pictures,
and none of anyone else's."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.main import create_app
from app.models import (
    CreditLedgerEntry,
    Image,
    ImageView,
    PaymentAttempt,
    ShareLink,
    Transaction,
    TransactionStatus,
    Upload,
    User,
)
from app.resources import Resources
from tests.auth.flows import FRONTEND, Mail, signed_up_and_verified
from tests.conftest import build_test_resources
from tests.loop_probe import LoopProbe
from tests.privacy.steps import completed_image, image_row, user_by_email

# The export's documents and the model each one holds.
TABLES: dict[str, Any] = {
    "credit_ledger": CreditLedgerEntry,
    "transactions": Transaction,
    "payment_attempts": PaymentAttempt,
    "images": Image,
    "image_views": ImageView,
    "share_links": ShareLink,
    "uploads": Upload,
}


async def _person(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> User:
    """A person with an image (shared), an upload, a purchase and ledger entries."""
    client.cookies.clear()
    email = await signed_up_and_verified(client, mail)
    image_id = await completed_image(client, resources)
    shared = await client.post(f"/api/v1/image/{image_id}/share", json={"expires_in_hours": 2})
    assert shared.status_code == 200, shared.text
    user = await user_by_email(session, email)
    transaction = Transaction(
        user_id=user.id,
        session_id=f"cks_{uuid.uuid4().hex[:10]}",
        product_id="pdt_test",
        quantity=1,
        amount_minor=100,
        currency="INR",
        status=TransactionStatus.CREATED,
    )
    session.add(transaction)
    # A side view row (generating views through the API costs more than the free credits).
    session.add(ImageView(image_id=image_id, view="right", status="failed", error_code="X"))
    await session.flush()
    session.add(
        PaymentAttempt(
            transaction_id=transaction.id, payment_id=f"pay_{uuid.uuid4().hex}", status="created"
        )
    )
    await session.flush()
    return user


async def _ids(session: AsyncSession, model: Any, user_id: int) -> set[int]:
    if model in (ImageView, ShareLink):
        query = select(model.id).join(Image, Image.id == model.image_id)
        query = query.where(Image.user_id == user_id)
    elif model is PaymentAttempt:
        query = select(model.id).join(Transaction, Transaction.id == model.transaction_id)
        query = query.where(Transaction.user_id == user_id)
    else:
        query = select(model.id).where(model.user_id == user_id)
    return set((await session.scalars(query)).all())


async def test_the_export_holds_every_row_of_that_person_and_none_of_anothers(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    other = await _person(client, mail, resources, session)
    user = await _person(client, mail, resources, session)

    response = await client.get("/api/v1/user/export")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    assert "content-length" not in response.headers, "streamed, not built whole first"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    names = set(archive.namelist())
    profile = json.loads(archive.read("profile.json"))
    assert profile["email"] == user.email
    assert profile["id"] == user.id
    for document, model in TABLES.items():
        rows = json.loads(archive.read(f"{document}.json"))
        exported = {row["id"] for row in rows}
        assert exported == await _ids(session, model, user.id), document
        assert exported, f"{document}: the test must give the person a row of each kind"
        assert not exported & await _ids(session, model, other.id), document
    everything = b"".join(archive.read(name) for name in names if name.endswith(".json"))
    assert other.email.encode() not in everything
    for secret in (b"hashed_password", b"token_hash", b"argon2"):
        assert secret not in everything

    (image_id,) = await _ids(session, Image, user.id)
    image = await image_row(session, image_id)
    assert image.output_key is not None
    files = {name: archive.read(name) for name in names if name.startswith("files/")}
    storage = resources.storage
    assert await storage.get(image.output_key) in files.values()
    assert await storage.get(image.input_key) in files.values()
    (other_image,) = await _ids(session, Image, other.id)
    other_output = (await image_row(session, other_image)).output_key
    assert other_output is not None
    assert await storage.get(other_output) not in files.values()


@pytest.fixture
async def export_limited_client(
    settings: Settings, resources: Resources
) -> AsyncIterator[httpx.AsyncClient]:
    limited = settings.model_copy(
        update={"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_EXPORT": "1/hour"}
    )
    app = create_app(limited, resources=build_test_resources(limited, resources.database))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND}
        ) as client,
    ):
        yield client


async def test_exports_have_their_own_per_user_budget(
    export_limited_client: httpx.AsyncClient, mail: Mail
) -> None:
    client = export_limited_client
    await signed_up_and_verified(client, mail)
    assert (await client.get("/api/v1/user/export")).status_code == 200
    refused = await client.get("/api/v1/user/export")
    assert refused.status_code == 429
    assert refused.json()["detail"]["code"] == "RATE_LIMITED"
    assert "retry-after" in refused.headers
    assert (await client.get("/api/v1/user/me")).status_code == 200, "only exports are limited"


async def test_the_export_writes_its_zip_off_the_event_loop(
    client: httpx.AsyncClient,
    mail: Mail,
    resources: Resources,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deflating the JSON documents (a long ledger is megabytes) and the CRC of each picture
    are CPU work: every entry is written in a worker thread while the loop serves others."""
    await _person(client, mail, resources, session)
    probe = LoopProbe(monkeypatch, asyncio.get_running_loop(), patience=5.0)
    probe.wrap(zipfile.ZipFile, "writestr")

    response = await client.get("/api/v1/user/export")

    assert response.status_code == 200, response.text
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert "credit_ledger.json" in names
    assert len(probe.calls) == len(names)
    on_loop = [args[1] for _, served, args in probe.calls if not served]
    assert on_loop == [], on_loop
