from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.core.repository import Repository
from app.models import Transaction, WebhookEvent


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

    async def open_ids(self, limit: int) -> list[int]:
        rows = await self.session.scalars(
            select(Transaction.id)
            .where(Transaction.status.in_(["created", "processing"]))
            .order_by(Transaction.id.desc())
            .limit(limit)
        )
        return list(rows)

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
