"""CFG-05: every admin action writes its audit row naming the admin and the reason, money
moves only through the ledger (grant/deduct, refund) and jobs through the job queue (retry);
money tables refuse hand edits. All through the real ASGI app, as the browser posts."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.generation.handlers import build_worker
from app.integrations.generator import GenerationFailed
from app.models import (
    AdminAudit,
    AuthSession,
    CreditLedgerEntry,
    CreditReason,
    DeadLetter,
    Image,
    ImageStatus,
    Style,
    Transaction,
    TransactionStatus,
    User,
    WebhookEvent,
)
from app.resources import Resources
from tests.admin.panel import sign_in_bootstrap
from tests.factories import create_user
from tests.files.images import png
from tests.generation.steps import portrait, run_jobs
from tests.integrations.payments import dodo_objects as objects


async def audit_rows(session: AsyncSession, action: str) -> list[AdminAudit]:
    rows = await session.scalars(
        select(AdminAudit).where(AdminAudit.action == action).order_by(AdminAudit.id)
    )
    return list(rows)


async def ledger(session: AsyncSession, user_id: int) -> list[CreditLedgerEntry]:
    rows = await session.scalars(
        select(CreditLedgerEntry)
        .where(CreditLedgerEntry.user_id == user_id)
        .order_by(CreditLedgerEntry.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def post_action(
    client: httpx.AsyncClient, token: str, path: str, **fields: str
) -> httpx.Response:
    return await client.post(path, data={"csrf_token": token, **fields})


@pytest.fixture
async def admin_token(client: httpx.AsyncClient, settings: Settings) -> str:
    return await sign_in_bootstrap(client, settings)


async def charged_image(
    session: AsyncSession, resources: Resources, user: User, status: ImageStatus
) -> Image:
    """A generation as the API leaves it: its input stored, its credit charged."""
    style = await session.scalar(select(Style).where(Style.is_active).order_by(Style.id))
    assert style is not None
    key = f"uploads/user_{user.id}/{secrets.token_hex(8)}.jpg"
    await resources.storage.put(key, portrait(), "image/jpeg")
    image = Image(
        user_id=user.id,
        style_id=style.id,
        style_name=style.name,
        description=style.description,
        input_key=key,
        status=status,
        deadline_at=datetime.now(UTC) + timedelta(minutes=5),
    )
    session.add(image)
    await session.flush()
    await CreditsService(CreditLedgerRepository(session)).charge(
        user.id, 1, CreditReason.GENERATION, Reference("image", image.id)
    )
    await session.commit()
    return image


async def test_cfg05_grant_and_deduct_write_a_ledger_row_naming_admin_and_reason(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession, settings: Settings
) -> None:
    user = await create_user(session, credits=0)
    await session.commit()
    # The action button of the list and details pages leads to the form asking for a reason.
    button = await client.get("/admin/user/action/credits", params={"pks": str(user.id)})
    assert button.status_code == 302
    form = await client.get(button.headers["location"])
    assert form.status_code == 200
    assert f'name="pks" value="{user.id}"' in form.text
    assert 'name="reason"' in form.text
    granted = await post_action(
        client,
        admin_token,
        "/admin/user/credits",
        pks=str(user.id),
        amount="5",
        reason="Apology for the outage",
    )
    assert granted.status_code == 200, granted.text
    assert "balance now 5" in granted.text
    deducted = await post_action(
        client,
        admin_token,
        "/admin/user/credits",
        pks=str(user.id),
        amount="-2",
        reason="Granted twice by mistake",
    )
    assert "balance now 3" in deducted.text
    rows = await ledger(session, user.id)
    assert [(row.delta, row.reason, row.balance_after) for row in rows] == [
        (5, "admin_adjustment", 5),
        (-2, "admin_adjustment", 3),
    ]
    assert rows[0].note == f"{settings.ADMIN_USERNAME}: Apology for the outage"
    grants = await audit_rows(session, "grant_credits")
    deducts = await audit_rows(session, "deduct_credits")
    assert [(a.admin_name, a.reason, a.target_id) for a in grants + deducts] == [
        (settings.ADMIN_USERNAME, "Apology for the outage", str(user.id)),
        (settings.ADMIN_USERNAME, "Granted twice by mistake", str(user.id)),
    ]
    assert rows[0].reference_type == "admin_audit"
    assert rows[0].reference_id == str(grants[0].id)
    await session.refresh(user)
    assert user.credits == 3


async def test_cfg05_credit_change_without_reason_or_beyond_the_balance_changes_nothing(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession
) -> None:
    user = await create_user(session, credits=1)
    await session.commit()
    no_reason = await post_action(
        client, admin_token, "/admin/user/credits", pks=str(user.id), amount="5", reason="  "
    )
    assert no_reason.status_code == 400
    assert "Give a reason" in no_reason.text
    too_much = await post_action(
        client,
        admin_token,
        "/admin/user/credits",
        pks=str(user.id),
        amount="-3",
        reason="chargeback",
    )
    assert too_much.status_code == 400
    assert "cannot deduct 3" in too_much.text
    not_a_number = await post_action(
        client,
        admin_token,
        "/admin/user/credits",
        pks=str(user.id),
        amount="1e9",
        reason="typo",
    )
    assert not_a_number.status_code == 400
    assert await ledger(session, user.id) == []
    assert await audit_rows(session, "deduct_credits") == []
    await session.refresh(user)
    assert user.credits == 1


async def test_cfg05_users_credits_are_not_editable_in_the_user_form(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession
) -> None:
    user = await create_user(session, credits=2, name="Before")
    await session.commit()
    edited = await client.post(
        f"/admin/user/edit/{user.id}",
        data={
            "csrf_token": admin_token,
            "name": "After",
            "role": "user",
            "verified": "y",
            "credits": "999",
            "save": "Save",
        },
    )
    assert edited.status_code == 302, edited.text
    await session.refresh(user)
    assert (user.name, user.credits) == ("After", 2)
    updates = await audit_rows(session, "update")
    assert updates[-1].target_type == "user"
    assert updates[-1].admin_name == "admin"


async def test_cfg05_retry_requeues_a_failed_generation_free_and_audited(
    client: httpx.AsyncClient,
    admin_token: str,
    session: AsyncSession,
    resources: Resources,
) -> None:
    user = await create_user(session, credits=3)
    image = await charged_image(session, resources, user, ImageStatus.PENDING)
    await build_worker(resources).fail(image.id, GenerationFailed("GENERATION_FAILED", "down"))
    before = len(await ledger(session, user.id))
    running = await post_action(
        client, admin_token, "/admin/image/retry", pks=str(image.id), reason="provider back up"
    )
    assert running.status_code == 200, running.text
    assert "queued again" in running.text
    await session.refresh(image)
    assert (image.status, image.error_code) == (ImageStatus.PENDING, None)
    assert await run_jobs(resources) == 1
    await session.refresh(image)
    assert image.status == ImageStatus.COMPLETED
    assert len(await ledger(session, user.id)) == before  # no new charge, no new refund
    await session.refresh(user)
    assert user.credits == 3
    (audit,) = await audit_rows(session, "retry_image")
    assert (audit.admin_name, audit.reason, audit.target_id) == (
        "admin",
        "provider back up",
        str(image.id),
    )
    again = await post_action(
        client, admin_token, "/admin/image/retry", pks=str(image.id), reason="twice"
    )
    assert again.status_code == 400
    assert "not a failed generation" in again.text


async def test_cfg05_refund_goes_through_the_ledger_once(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession, resources: Resources
) -> None:
    user = await create_user(session, credits=3)
    image = await charged_image(session, resources, user, ImageStatus.COMPLETED)
    first = await post_action(
        client, admin_token, "/admin/image/refund", pks=str(image.id), reason="bad result"
    )
    assert "1 credit refunded" in first.text
    second = await post_action(
        client, admin_token, "/admin/image/refund", pks=str(image.id), reason="clicked twice"
    )
    assert "already refunded" in second.text
    refunds = [row for row in await ledger(session, user.id) if row.reason == "refund"]
    assert [(row.delta, row.business_key) for row in refunds] == [(1, f"refund:image:{image.id}")]
    audits = await audit_rows(session, "refund_image")
    assert [(a.reason, a.detail is not None) for a in audits] == [
        ("bad result", True),
        ("clicked twice", True),
    ]
    await session.refresh(user)
    assert user.credits == 3


async def test_cfg05_reprocess_applies_an_unmatched_webhook_through_the_payments_service(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession
) -> None:
    user = await create_user(session, credits=0)
    transaction = Transaction(
        user_id=user.id,
        session_id="cks_late_stored",
        product_id=objects.PRODUCT_ID,
        quantity=2,
        amount_minor=2 * objects.UNIT_PRICE_MINOR,
        currency=objects.CURRENCY,
        status=TransactionStatus.CREATED,
    )
    session.add(transaction)
    payment = objects.payment_object(checkout_session_id="cks_late_stored", quantity=2)
    event = WebhookEvent(
        webhook_id="msg_" + secrets.token_hex(6),
        event_type="payment.succeeded",
        payment_id=payment["payment_id"],
        payload=json.dumps(objects.event_envelope("payment.succeeded", payment)),
        outcome="unmatched_unknown_transaction",
    )
    session.add(event)
    await session.commit()
    done = await post_action(
        client,
        admin_token,
        "/admin/webhook-event/reprocess",
        pks=str(event.id),
        reason="session id was stored late",
    )
    assert done.status_code == 200, done.text
    assert "unmatched_unknown_transaction -&gt; granted" in done.text
    await session.refresh(user)
    assert user.credits == 2
    again = await post_action(
        client, admin_token, "/admin/webhook-event/reprocess", pks=str(event.id), reason="again"
    )
    assert again.status_code == 400
    await session.refresh(user)
    assert user.credits == 2
    (audit,) = await audit_rows(session, "reprocess_webhook")
    assert (audit.reason, audit.detail) == (
        "session id was stored late",
        "unmatched_unknown_transaction -> granted",
    )


async def test_cfg05_revoking_a_session_signs_the_user_out_and_is_audited(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession
) -> None:
    user = await create_user(session)
    family = AuthSession(
        id=secrets.token_hex(16),
        user_id=user.id,
        current_jti=secrets.token_hex(8),
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    session.add(family)
    await session.commit()
    done = await post_action(
        client, admin_token, "/admin/auth-session/revoke", pks=family.id, reason="stolen laptop"
    )
    assert done.status_code == 200, done.text
    await session.refresh(family)
    assert family.revoked_at is not None
    (audit,) = await audit_rows(session, "revoke_session")
    assert (audit.target_id, audit.reason) == (family.id, "stolen laptop")


async def test_cfg05_style_prompt_edit_and_thumbnail_upload_are_audited(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession, resources: Resources
) -> None:
    style = await session.scalar(select(Style).order_by(Style.id))
    assert style is not None
    form = await client.get(f"/admin/style/edit/{style.id}")
    assert form.status_code == 200
    edited = await client.post(
        f"/admin/style/edit/{style.id}",
        data={
            "csrf_token": admin_token,
            "name": style.name,
            "description": style.description,
            "prompt": "A sharper bob, chin length",
            "category": style.category,
            "sort_order": "7",
            "is_active": "y",
            "palette": style.palette,
            "length": style.length or "",
            "texture": style.texture or "",
            "save": "Save",
        },
    )
    assert edited.status_code == 302, edited.text
    uploaded = await client.post(
        "/admin/style/thumbnail",
        data={"csrf_token": admin_token, "pks": str(style.id), "reason": "new photo"},
        files={"thumbnail": ("thumb.png", png((64, 64)), "image/png")},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert "thumbnail replaced" in uploaded.text
    await session.refresh(style)
    assert (style.prompt, style.sort_order) == ("A sharper bob, chin length", 7)
    assert style.thumbnail.startswith(f"styles/{style.id}/")
    assert style.thumbnail.endswith(".png")
    assert await resources.storage.exists(style.thumbnail)
    (update,) = [a for a in await audit_rows(session, "update") if a.target_type == "style"]
    assert "A sharper bob" in (update.detail or "")
    (thumb,) = await audit_rows(session, "replace_thumbnail")
    assert thumb.reason == "new photo"
    not_an_image = await client.post(
        "/admin/style/thumbnail",
        data={"csrf_token": admin_token, "pks": str(style.id), "reason": "oops"},
        files={"thumbnail": ("x.png", b"<svg></svg>", "image/png")},
    )
    assert not_an_image.status_code == 415
    catalogue = await client.get("/api/v1/image/styles")
    shown = next(item for item in catalogue.json() if item["id"] == style.id)
    assert style.thumbnail in shown["image_url"]


async def test_a_new_style_is_created_from_the_form_and_audited(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession
) -> None:
    created = await client.post(
        "/admin/style/create",
        data={
            "csrf_token": admin_token,
            "name": "Admin Pixie",
            "description": "Short and neat.",
            "prompt": "a pixie cut",
            "category": "standard",
            "sort_order": "99",
            "is_active": "y",
            "palette": "#2b1b10,#3a2416",
            "length": "short",
            "texture": "straight",
            "thumbnail": "static/styles/classic-bob.jpg",
            "save": "Save",
        },
    )
    assert created.status_code == 302, created.text
    style = await session.scalar(select(Style).where(Style.name == "Admin Pixie"))
    assert style is not None
    assert (style.prompt, style.sort_order, style.is_active) == ("a pixie cut", 99, True)
    creates = [a for a in await audit_rows(session, "create") if a.target_type == "style"]
    assert [a.target_id for a in creates] == [str(style.id)]
    catalogue = (await client.get("/api/v1/image/styles")).json()
    assert "Admin Pixie" in [item["name"] for item in catalogue]


async def test_a_style_edit_with_a_broken_palette_or_length_is_refused(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession
) -> None:
    style = await session.scalar(select(Style).order_by(Style.id))
    assert style is not None
    before = (style.palette, style.length, style.prompt)
    base = {
        "csrf_token": admin_token,
        "name": style.name,
        "description": style.description,
        "prompt": "changed",
        "category": style.category,
        "sort_order": "1",
        "is_active": "y",
        "palette": style.palette,
        "length": style.length or "",
        "texture": "",
        "save": "Save",
    }
    for broken in ({"palette": "red, blue"}, {"length": "very long"}, {"prompt": " "}):
        refused = await client.post(f"/admin/style/edit/{style.id}", data={**base, **broken})
        assert refused.status_code == 400, broken
    await session.refresh(style)
    assert (style.palette, style.length, style.prompt) == before


async def test_action_pages_escape_what_they_echo(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    page = await client.get("/admin/user/credits", params={"pks": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    refused = await post_action(
        client, admin_token, "/admin/user/credits", pks="<b>1</b>", amount="1", reason="x"
    )
    assert refused.status_code == 400
    assert "<b>1</b>" not in refused.text


MONEY_VIEWS = ("transaction", "webhook-event", "credit-ledger-entry", "admin-audit")


@pytest.mark.parametrize("identity", MONEY_VIEWS)
async def test_cfg05_money_tables_refuse_create_edit_and_delete(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession, identity: str
) -> None:
    user = await create_user(session, credits=4)
    await session.commit()
    listed = await client.get(f"/admin/{identity}/list")
    assert listed.status_code == 200
    for method, path in (
        ("GET", f"/admin/{identity}/create"),
        ("POST", f"/admin/{identity}/create"),
        ("GET", f"/admin/{identity}/edit/1"),
        ("POST", f"/admin/{identity}/edit/1"),
        ("DELETE", f"/admin/{identity}/delete?pks=1"),
        ("GET", f"/admin/{identity}/export/csv"),
    ):
        response = await client.request(
            method,
            path,
            data={"csrf_token": admin_token, "delta": "100", "user_id": str(user.id)}
            if method == "POST"
            else None,
            headers={"X-CSRF-Token": admin_token},
        )
        assert response.status_code == 403, (method, path, response.status_code)
    await session.refresh(user)
    assert user.credits == 4


async def test_cfg05_image_details_show_signed_links(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession, resources: Resources
) -> None:
    user = await create_user(session)
    image = await charged_image(session, resources, user, ImageStatus.PENDING)
    page = await client.get(f"/admin/image/details/{image.id}")
    assert page.status_code == 200
    signed = await resources.storage.url_for(image.input_key)
    assert signed.split("?", 1)[0] + "?expires=" in page.text  # a signed link, not the key
    assert "&amp;sig=" in page.text
    other = await charged_image(session, resources, await create_user(session), ImageStatus.PENDING)
    link, other_link = (f"/admin/image/details/{i.id}" for i in (image, other))
    by_status = await client.get("/admin/image/list", params={"status": "pending"})
    assert link in by_status.text
    by_user = await client.get(
        "/admin/image/list", params={"user_id": str(user.id), "user_id_op": "equals"}
    )
    assert link in by_user.text
    assert other_link not in by_user.text
    assert (
        link
        not in (
            await client.get("/admin/image/list", params={"error_code": "GENERATION_TIMEOUT"})
        ).text
    )


async def test_dead_lettered_jobs_are_listed_read_only(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession
) -> None:
    """JOB-07's dead letters are visible to the operator, and nobody edits them by hand."""
    letter = DeadLetter(
        task_name="generate_image",
        image_id=987_654,
        view=None,
        attempts=3,
        error_code="GENERATION_FAILED",
    )
    session.add(letter)
    await session.commit()
    listed = await client.get("/admin/dead-letter/list")
    assert listed.status_code == 200
    assert "987654" in listed.text
    assert "GENERATION_FAILED" in listed.text
    for method, path in (
        ("POST", "/admin/dead-letter/create"),
        ("POST", f"/admin/dead-letter/edit/{letter.id}"),
        ("DELETE", f"/admin/dead-letter/delete?pks={letter.id}"),
    ):
        response = await client.request(
            method,
            path,
            data={"csrf_token": admin_token} if method == "POST" else None,
            headers={"X-CSRF-Token": admin_token},
        )
        assert response.status_code == 403, (method, path, response.status_code)
    await session.delete(letter)
    await session.commit()
