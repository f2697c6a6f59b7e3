"""The admin's use cases. Every one that changes something writes an `admin_audit` row naming
the admin and the reason in the same transaction as its effect (CFG-05); money moves go
through CreditsService (a ledger row), jobs through the job queue, payment events through the
payments service. Nothing here edits a money row by hand."""

from __future__ import annotations

import contextlib
import json
import secrets
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.identity import AdminIdentity
from app.admin.repository import AdminAuditRepository, DashboardRepository
from app.auth.repository import SessionRepository
from app.core.config import Settings
from app.core.db import after_commit
from app.core.errors import AppError
from app.credits.exceptions import InsufficientCredits
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.files.intake import ImagePolicy, process_image_async
from app.generation.repository import ImageRepository
from app.generation.tasks import GENERATE_IMAGE
from app.integrations.generator import StyleSpec
from app.integrations.generator.port import Texture
from app.integrations.storage import Storage, StorageError
from app.jobs.port import JobQueue
from app.models import (
    AdminAudit,
    AuthSession,
    CreditReason,
    Image,
    ImageStatus,
    Style,
    User,
    WebhookEvent,
)
from app.payments.service import reprocess_stored_event
from app.styles.facets import clean_facets
from app.styles.service import STATIC_PREFIX

UnitOfWork = Callable[..., AbstractAsyncContextManager[AsyncSession]]

MAX_REASON = 500
MAX_ADJUSTMENT = 100_000
MAX_NOTE = 255


class AdminActionRefused(AppError):
    """What the admin asked cannot be done; the message says why (shown on the page)."""

    status_code = 400
    code = "ADMIN_ACTION_REFUSED"


def clean_reason(raw: object) -> str:
    """A reason is required: one to 500 printable characters (kept on one line)."""
    text = raw if isinstance(raw, str) else ""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    if not text:
        raise AdminActionRefused("Give a reason: it is kept in the audit log.")
    if len(text) > MAX_REASON:
        raise AdminActionRefused(f"The reason is longer than {MAX_REASON} characters.")
    return text


def parse_amount(raw: object) -> int:
    """A signed whole number of credits, not zero: +5 grants, -5 deducts."""
    try:
        amount = int(str(raw).strip())
    except ValueError:
        raise AdminActionRefused("The amount must be a whole number, e.g. 5 or -5.") from None
    if amount == 0 or abs(amount) > MAX_ADJUSTMENT:
        raise AdminActionRefused(f"The amount must be between 1 and {MAX_ADJUSTMENT} either way.")
    return amount


def check_style_fields(data: dict[str, Any]) -> None:
    """What the generators and the catalogue's filters need from a style edited by hand,
    checked before it is saved: a typo in the palette would otherwise fail (and refund) every
    generation of that style. Empty texture means "keep the client's" (NULL); the facets
    (gender, length, tags) follow app/styles/facets.py."""
    texture = (data.get("texture") or "").strip() or None
    if texture is not None and texture not in get_args(Texture):
        raise ValueError(f"texture must be empty or one of {', '.join(get_args(Texture))}")
    data["texture"] = texture
    clean_facets(data)
    palette = tuple(c.strip() for c in str(data.get("palette") or "").split(",") if c.strip())
    StyleSpec(name="check", prompt=str(data.get("prompt") or ""), palette=palette)
    if not str(data.get("prompt") or "").strip():
        raise ValueError("the prompt cannot be empty")


class AdminService:
    def __init__(
        self,
        *,
        units: UnitOfWork,
        storage: Storage,
        image_policy: ImagePolicy,
        queue: JobQueue,
        settings: Settings,
    ) -> None:
        self.units = units
        self.storage = storage
        self.image_policy = image_policy
        self.queue = queue
        self.settings = settings

    async def adjust_credits(
        self, admin: AdminIdentity, user_id: int, amount: int, reason: str
    ) -> str:
        """Grant (amount > 0) or deduct (amount < 0) credits: one ledger row whose reference is
        the audit row, noting the admin and the reason."""
        async with self.units() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise AdminActionRefused(f"User {user_id} does not exist.")
            action = "grant_credits" if amount > 0 else "deduct_credits"
            audit = await self._audit(session, admin, action, "user", user_id, reason)
            credits = _credits(session, self.settings)
            reference = Reference("admin_audit", audit.id)
            note = f"{admin.name}: {reason}"[:MAX_NOTE]
            try:
                if amount > 0:
                    change = await credits.grant(
                        user_id, amount, CreditReason.ADMIN_ADJUSTMENT, reference, note=note
                    )
                else:
                    change = await credits.debit(
                        user_id, -amount, CreditReason.ADMIN_ADJUSTMENT, reference, note=note
                    )
            except InsufficientCredits:
                raise AdminActionRefused(
                    f"User {user_id} has {user.credits} credits: cannot deduct {-amount}."
                ) from None
            audit.detail = f"{amount:+d} credits, balance {change.balance}"
            return f"User {user_id}: {amount:+d} credits, balance now {change.balance}."

    async def retry_image(self, admin: AdminIdentity, image_id: int, reason: str) -> str:
        """Run a failed generation again through the job queue. Free for the user: the failed
        attempt was refunded, and if the retry fails too its refund is not paid twice (the
        refund's business key is the image's)."""
        now = datetime.now(UTC)
        deadline = now + timedelta(seconds=self.settings.GENERATION_TIMEOUT_S)
        queued_until = now + timedelta(seconds=self.settings.job_queue_lease_s)
        async with self.units() as session:
            images = ImageRepository(session)
            if not await images.requeue_failed(image_id, deadline, queued_until=queued_until):
                raise AdminActionRefused(f"Image {image_id} is not a failed generation.")
            audit = await self._audit(session, admin, "retry_image", "image", image_id, reason)
            audit.detail = "queued again (no new charge: the failure was refunded)"

            async def enqueue() -> None:
                await self.queue.enqueue(GENERATE_IMAGE, image_id)

            after_commit(session, enqueue)
        return f"Image {image_id} queued again."

    async def refund_image(self, admin: AdminIdentity, image_id: int, reason: str) -> str:
        """Give back a generation's credit through the ledger: once per image, and only if it
        was charged (a failure already refunded it, so a second refund does nothing)."""
        async with self.units() as session:
            image = await session.get(Image, image_id)
            if image is None:
                raise AdminActionRefused(f"Image {image_id} does not exist.")
            audit = await self._audit(session, admin, "refund_image", "image", image_id, reason)
            charge = Reference("image", image_id)
            change = await _credits(session, self.settings).refund(
                image.user_id, 1, charge, charged=(CreditReason.GENERATION, charge)
            )
            if not change.applied:
                audit.detail = "nothing refunded: already refunded or never charged"
                return f"Image {image_id}: already refunded or never charged; nothing changed."
            audit.detail = f"refunded 1 credit, balance {change.balance}"
            return f"Image {image_id}: 1 credit refunded to user {image.user_id}."

    async def reprocess_webhook(self, admin: AdminIdentity, event_id: int, reason: str) -> str:
        async with self.units() as session:
            event = await session.get(WebhookEvent, event_id)
            if event is None:
                raise AdminActionRefused(f"Webhook event {event_id} does not exist.")
            before = event.outcome
            outcome = await reprocess_stored_event(session, event)
            if outcome is None:
                raise AdminActionRefused(
                    f"Event {event_id} ({before}) was applied already; only unmatched events "
                    "are processed again."
                )
            audit = await self._audit(
                session, admin, "reprocess_webhook", "webhook_event", event_id, reason
            )
            audit.detail = f"{before} -> {outcome}"
            return f"Event {event_id}: {before} -> {outcome}."

    async def revoke_session(self, admin: AdminIdentity, session_id: str, reason: str) -> str:
        async with self.units() as session:
            found = await session.get(AuthSession, session_id)
            if found is None:
                raise AdminActionRefused("No such session.")
            if found.revoked_at is not None:
                raise AdminActionRefused("The session is revoked already.")
            await SessionRepository(session).revoke(session_id, datetime.now(UTC), "admin")
            await self._audit(session, admin, "revoke_session", "auth_session", session_id, reason)
            return f"Session of user {found.user_id} revoked."

    async def replace_thumbnail(
        self, admin: AdminIdentity, style_id: int, data: bytes, reason: str
    ) -> str:
        """A new thumbnail through image intake (type by content, pixel cap, metadata
        stripped) and the storage port; the old stored object is removed once committed."""
        async with self.units(write=False) as session:
            if await session.get(Style, style_id) is None:
                raise AdminActionRefused(f"Style {style_id} does not exist.")
        processed = await process_image_async(data, self.image_policy)
        key = f"styles/{style_id}/{secrets.token_hex(8)}.{processed.extension}"
        await self.storage.put(key, processed.data, processed.content_type)
        async with self.units() as session:
            style = await session.get(Style, style_id)
            if style is None:
                raise AdminActionRefused(f"Style {style_id} does not exist.")
            old = style.thumbnail
            style.thumbnail = key
            audit = await self._audit(
                session, admin, "replace_thumbnail", "style", style_id, reason
            )
            audit.detail = f"{old} -> {key}"
            if not old.startswith(STATIC_PREFIX):
                after_commit(session, lambda: self._remove(old))
        return f"Style {style_id}: thumbnail replaced."

    async def _remove(self, key: str) -> None:
        # An unreferenced object if this fails; nothing shows it any more.
        with contextlib.suppress(StorageError):
            await self.storage.delete(key)

    async def record_edit(
        self, admin_name: str, action: str, target_type: str, target_id: str | None, changes: Any
    ) -> None:
        """sqladmin's own create/update/delete (styles, users' names and roles)."""
        async with self.units() as session:
            await AdminAuditRepository(session).add(
                AdminAudit(
                    admin_name=admin_name[:320],
                    action=action,
                    target_type=target_type[:32],
                    target_id=target_id[:64] if target_id else None,
                    reason="edited in the admin form",
                    detail=json.dumps(changes, default=str)[:10_000] if changes else None,
                )
            )

    async def _audit(
        self,
        session: AsyncSession,
        admin: AdminIdentity,
        action: str,
        target_type: str,
        target_id: int | str,
        reason: str,
    ) -> AdminAudit:
        return await AdminAuditRepository(session).add(
            AdminAudit(
                admin_name=admin.name,
                admin_user_id=admin.user_id,
                action=action,
                target_type=target_type,
                target_id=str(target_id),
                reason=reason,
            )
        )


def _credits(session: AsyncSession, settings: Settings) -> CreditsService:
    return CreditsService(
        CreditLedgerRepository(
            session, unsafe_read_modify_write=settings.CREDITS_UNSAFE_READ_MODIFY_WRITE
        )
    )


# --- dashboard ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    completed: int
    failed: int
    other: int

    @property
    def total(self) -> int:
        return self.completed + self.failed + self.other


@dataclass(frozen=True, slots=True)
class Dashboard:
    days: int
    per_day: list[DayCount]
    total: int
    failed: int
    failure_rate: float | None
    top_failures: list[tuple[str, int]]
    median_s: float | None
    p95_s: float | None
    credits: list[tuple[str, int, int]]
    granted: int
    spent: int
    revenue: list[tuple[str, int, int]]
    refunded: list[tuple[str, int]]
    active_users: int
    new_users: int
    total_users: int


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (p95 of 20 values is the 19th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


class DashboardService:
    def __init__(self, units: UnitOfWork) -> None:
        self.units = units

    async def build(self, days: int, *, today: date | None = None) -> Dashboard:
        today = today or datetime.now(UTC).date()
        start = today - timedelta(days=days - 1)
        since = datetime(start.year, start.month, start.day, tzinfo=UTC)
        async with self.units(write=False) as session:
            figures = DashboardRepository(session)
            rows = await figures.generations_per_day(since)
            top = await figures.top_failure_codes(since, 8)
            durations = await figures.durations(since)
            credits = await figures.credits_by_reason(since)
            revenue = await figures.revenue_by_settlement_currency(since)
            refunded = await figures.refunded_by_currency(since)
            active = await figures.active_users(since)
            new = await figures.new_users(since)
            total_users = await figures.total_users()
        counts: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for day, status, count in rows:
            bucket = status if status in (ImageStatus.COMPLETED, ImageStatus.FAILED) else "other"
            counts[day][bucket] += count
        per_day = [
            DayCount(
                day,
                counts[day]["completed"],
                counts[day]["failed"],
                counts[day]["other"],
            )
            for day in (start + timedelta(days=offset) for offset in range(days))
        ]
        total = sum(item.total for item in per_day)
        failed = sum(item.failed for item in per_day)
        finished = sum(item.completed + item.failed for item in per_day)
        return Dashboard(
            days=days,
            per_day=per_day,
            total=total,
            failed=failed,
            failure_rate=failed / finished if finished else None,
            top_failures=top,
            median_s=statistics.median(durations) if durations else None,
            p95_s=percentile(durations, 0.95),
            credits=sorted(credits),
            granted=sum(row[1] for row in credits),
            spent=sum(row[2] for row in credits),
            revenue=revenue,
            refunded=refunded,
            active_users=active,
            new_users=new,
            total_users=total_users,
        )
