"""Ids, debits and idempotency records that cannot be turned into free work (CR-07, CR-08,
CR-09): a deleted image's id is never handed out again, work never starts without its own
debit, refunds answer only a debit of the same job, and a refused request leaves nothing that
later answers 500."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.credits.exceptions import DebitNotApplied
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.generation.handlers import build_worker
from app.integrations.generator import GenerationFailed
from app.models import CreditLedgerEntry, CreditReason
from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.factories import create_image, create_user
from tests.files.images import jpeg
from tests.generation.steps import first_style_id, generate, run_jobs, upload


async def _credits(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/v1/user/credits")).json())


async def _debits(session: AsyncSession, user_id: int) -> list[CreditLedgerEntry]:
    rows = await session.scalars(
        select(CreditLedgerEntry).where(
            CreditLedgerEntry.user_id == user_id,
            CreditLedgerEntry.reason == CreditReason.GENERATION.value,
        )
    )
    return list(rows)


async def _me(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/v1/user/me")).json()["id"])


async def test_cr07_a_deleted_images_id_is_never_reused(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    selfie, style_id = await upload(client), await first_style_id(client)
    first = (await generate(client, selfie["file_url"], style_id)).json()["image_id"]
    await run_jobs(resources)
    assert (await client.delete(f"/api/v1/image/{first}")).status_code == 204

    response = await generate(client, selfie["file_url"], style_id)
    assert response.status_code == 200, response.text
    second = response.json()["image_id"]

    assert second != first
    assert await _credits(client) == 1
    debits = await _debits(session, await _me(client))
    assert len(debits) == 2
    assert len({entry.business_key for entry in debits}) == 2


async def test_cr07_every_integer_id_table_never_reuses_ids(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Deleting the newest row of a table and inserting again must not give its id back."""
    user = await create_user(session)
    newest = user.id
    await session.delete(user)
    await session.flush()
    again = await create_user(session)
    assert again.id != newest


async def test_cr08_a_debit_that_was_not_applied_raises(session: AsyncSession) -> None:
    user = await create_user(session, credits=3)
    credits = CreditsService(CreditLedgerRepository(session))
    reference = Reference("image", 987_654_321)
    await credits.charge(user.id, 1, CreditReason.GENERATION, reference)
    with pytest.raises(DebitNotApplied):
        await credits.charge(user.id, 1, CreditReason.GENERATION, reference)
    await session.refresh(user)
    assert user.credits == 2


async def test_cr08_a_refund_without_a_debit_of_that_job_refunds_nothing(
    resources: Resources, session: AsyncSession
) -> None:
    """A failure reported for a job that was never charged (or charged under another key) must
    not create credits out of nothing."""
    user = await create_user(session, credits=0)
    image = await create_image(session, user_id=user.id)
    await build_worker(resources).fail(image.id, GenerationFailed("PROVIDER_UNAVAILABLE"))
    await session.refresh(user)
    assert user.credits == 0
    refunds = await session.scalar(
        select(func.count())
        .select_from(CreditLedgerEntry)
        .where(CreditLedgerEntry.user_id == user.id)
    )
    assert refunds == 0


async def test_cr09_a_request_refused_for_no_face_replays_as_the_same_refusal(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    faceless = await upload(client, jpeg((400, 300), "skyblue"))
    style_id = await first_style_id(client)
    for _ in range(2):
        response = await generate(
            client, faceless["file_url"], style_id, **{"Idempotency-Key": "retry-no-face"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"]["code"] == "NO_FACE_DETECTED"
    assert await _credits(client) == 3


async def test_cr09_a_request_refused_for_credits_can_be_retried_once_topped_up(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    selfie, style_id = await upload(client), await first_style_id(client)
    for index in range(3):
        spent = await generate(
            client, selfie["file_url"], style_id, **{"Idempotency-Key": f"k{index}"}
        )
        assert spent.status_code == 200
    refused = await generate(client, selfie["file_url"], style_id, **{"Idempotency-Key": "broke"})
    assert refused.status_code == 402
    again = await generate(client, selfie["file_url"], style_id, **{"Idempotency-Key": "broke"})
    assert again.status_code == 402, again.text

    user_id = await _me(client)
    await CreditsService(CreditLedgerRepository(session)).grant(
        user_id, 1, CreditReason.ADMIN_ADJUSTMENT, Reference("test", "top-up")
    )
    await session.flush()
    paid = await generate(client, selfie["file_url"], style_id, **{"Idempotency-Key": "broke"})
    assert paid.status_code == 200, paid.text


async def test_cr09_a_request_refused_for_a_bad_style_replays_as_404(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    for _ in range(2):
        response = await generate(
            client, selfie["file_url"], 999_999, **{"Idempotency-Key": "bad-style"}
        )
        assert response.status_code == 404, response.text
