from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.core.repository import Repository
from app.models import Transaction, TransactionStatus, WebhookEvent

# Waiting for the provider's word: what reconciliation looks at.
OPEN_STATUSES = (TransactionStatus.CREATED, TransactionStatus.PROCESSING)


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
        return await self.session.scalar(
            select(Transaction).where(Transaction.payment_id == payment_id)
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
        self, *, created_before: datetime, after_id: int, limit: int
    ) -> list[OpenTransaction]:
        """One page of open transactions created before `created_before`, oldest first (ids
        grow with time), after the keyset `after_id`: a scan that pages on covers them all."""
        rows = await self.session.execute(
            select(Transaction.id, Transaction.session_id, Transaction.created_at)
            .where(
                Transaction.status.in_(OPEN_STATUSES),
                Transaction.id > after_id,
                Transaction.created_at < created_before,
            )
            .order_by(Transaction.id)
            .limit(limit)
        )
        return [OpenTransaction(id, session_id, created_at) for id, session_id, created_at in rows]

    async def set_status(self, transaction_id: int, status: str) -> None:
        await self.session.execute(
            update(Transaction).where(Transaction.id == transaction_id).values(status=status)
        )


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
