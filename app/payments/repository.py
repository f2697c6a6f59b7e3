from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.core.repository import Repository
from app.models import (
    CHECKOUT_SESSION_LIFETIME,
    PaymentAttempt,
    PaymentRefund,
    Transaction,
    TransactionStatus,
    WebhookEvent,
)

# Waiting for the provider's word: what reconciliation looks at (and expires when abandoned).
OPEN_STATUSES = (TransactionStatus.CREATED, TransactionStatus.PROCESSING)
# Their last attempt failed, but the customer may retry on the same checkout page.
RETRYABLE_OPEN_STATUSES = (TransactionStatus.FAILED, TransactionStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class OpenTransaction:
    id: int
    session_id: str | None
    created_at: datetime


class TransactionRepository(Repository[Transaction]):
    model = Transaction

    async def get_for_update(self, transaction_id: int) -> Transaction | None:
        """Lock the row: concurrent deliveries for one payment take turns (PostgreSQL;
        SQLite's BEGIN IMMEDIATE already serialises writers)."""
        return await self.session.scalar(
            select(Transaction)
            .where(Transaction.id == transaction_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def get_by_payment(self, payment_id: str) -> Transaction | None:
        """The transaction a payment (succeeded, or any recorded attempt) belongs to."""
        found = await self.session.scalar(
            select(Transaction).where(Transaction.payment_id == payment_id)
        )
        if found is not None:
            return found
        return await self.session.scalar(
            select(Transaction)
            .join(PaymentAttempt, PaymentAttempt.transaction_id == Transaction.id)
            .where(PaymentAttempt.payment_id == payment_id)
        )

    async def get_by_session(self, session_id: str) -> Transaction | None:
        return await self.session.scalar(
            select(Transaction).where(Transaction.session_id == session_id)
        )

    async def list_for_owner(self, user_id: int, limit: int) -> list[Transaction]:
        rows = await self.session.scalars(
            select(Transaction)
            .where(Transaction.user_id == user_id)
            .order_by(Transaction.id.desc())
            .limit(limit)
        )
        return list(rows)

    async def open_page(
        self, *, created_before: datetime, now: datetime, after_id: int, limit: int
    ) -> list[OpenTransaction]:
        """One page of transactions a payment can still arrive for, created before
        `created_before`, oldest first (ids grow with time), after the keyset `after_id`: a
        scan that pages on covers them all. Open means never paid, or whose last attempt failed
        while its checkout session lives."""
        rows = await self.session.execute(
            select(Transaction.id, Transaction.session_id, Transaction.created_at)
            .where(
                or_(
                    Transaction.status.in_(OPEN_STATUSES),
                    and_(
                        Transaction.status.in_(RETRYABLE_OPEN_STATUSES),
                        Transaction.created_at > now - CHECKOUT_SESSION_LIFETIME,
                    ),
                ),
                Transaction.id > after_id,
                Transaction.created_at < created_before,
            )
            .order_by(Transaction.id)
            .limit(limit)
        )
        return [OpenTransaction(id, session_id, created_at) for id, session_id, created_at in rows]

    async def set_session(self, transaction_id: int, session_id: str) -> None:
        await self.session.execute(
            update(Transaction)
            .where(Transaction.id == transaction_id)
            .values(session_id=session_id)
        )

    async def delete_unpaid(self, transaction_id: int) -> None:
        """Remove a checkout the provider never opened (its call failed)."""
        await self.session.execute(
            delete(Transaction).where(
                Transaction.id == transaction_id,
                Transaction.status == TransactionStatus.CREATED,
                Transaction.session_id.is_(None),
            )
        )

    async def record_attempt(self, transaction_id: int, payment_id: str, status: str) -> None:
        """Remember which transaction a payment id belongs to, with its latest status."""
        updated = await self.session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.payment_id == payment_id)
            .values(status=status)
        )
        if getattr(updated, "rowcount", 0):
            return
        try:
            async with self.session.begin_nested():
                self.session.add(
                    PaymentAttempt(
                        transaction_id=transaction_id, payment_id=payment_id, status=status
                    )
                )
                await self.session.flush()
        except IntegrityError:
            pass  # recorded meanwhile by a concurrent delivery about the same attempt

    async def add_refund(self, refund: PaymentRefund) -> bool:
        """Insert once per provider refund id; False when this refund was counted before."""
        try:
            async with self.session.begin_nested():
                self.session.add(refund)
                await self.session.flush()
        except IntegrityError:
            return False
        return True


class WebhookEventRepository(Repository[WebhookEvent]):
    model = WebhookEvent

    async def record(self, event: WebhookEvent) -> bool:
        """Insert once per webhook-id; False when this delivery was seen before."""
        try:
            async with self.session.begin_nested():
                self.session.add(event)
                await self.session.flush()
        except IntegrityError:
            return False
        return True

    async def get_by_webhook_id(self, webhook_id: str) -> WebhookEvent | None:
        return await self.session.scalar(
            select(WebhookEvent)
            .where(WebhookEvent.webhook_id == webhook_id)
            .execution_options(populate_existing=True)
        )
