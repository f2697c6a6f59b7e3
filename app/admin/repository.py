"""The admin's queries: audit rows and the dashboard's figures."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.repository import Repository
from app.models import (
    AdminAudit,
    CreditLedgerEntry,
    Image,
    ImageStatus,
    Transaction,
    TransactionStatus,
    User,
)

# Enough recent completions for stable percentiles without reading the whole table.
MAX_DURATIONS = 20_000


class AdminAuditRepository(Repository[AdminAudit]):
    model = AdminAudit


class DashboardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def generations_per_day(self, since: datetime) -> list[tuple[date, str, int]]:
        """(day, status, count) for front images created since `since`."""
        # date() exists on SQLite and PostgreSQL (CAST AS DATE on SQLite yields the year).
        day = func.date(Image.created_at)
        rows = await self.session.execute(
            select(day, Image.status, func.count())
            .where(Image.created_at >= since)
            .group_by(day, Image.status)
        )
        return [(_as_date(row[0]), str(row[1]), int(row[2])) for row in rows]

    async def top_failure_codes(self, since: datetime, limit: int) -> list[tuple[str, int]]:
        code = func.coalesce(Image.error_code, "UNKNOWN")
        rows = await self.session.execute(
            select(code, func.count())
            .where(Image.created_at >= since, Image.status == ImageStatus.FAILED)
            .group_by(code)
            .order_by(func.count().desc(), code)
            .limit(limit)
        )
        return [(str(row[0]), int(row[1])) for row in rows]

    async def durations(self, since: datetime) -> list[float]:
        rows = await self.session.scalars(
            select(Image.time_taken)
            .where(
                Image.created_at >= since,
                Image.status == ImageStatus.COMPLETED,
                Image.time_taken.is_not(None),
            )
            .order_by(Image.id.desc())
            .limit(MAX_DURATIONS)
        )
        return [float(value) for value in rows if value is not None]

    async def credits_by_reason(self, since: datetime) -> list[tuple[str, int, int]]:
        """(reason, granted, spent) over ledger rows since `since`."""
        rows = await self.session.execute(
            select(
                CreditLedgerEntry.reason,
                func.coalesce(func.sum(_positive(CreditLedgerEntry.delta)), 0),
                func.coalesce(func.sum(_positive(-CreditLedgerEntry.delta)), 0),
            )
            .where(CreditLedgerEntry.created_at >= since)
            .group_by(CreditLedgerEntry.reason)
        )
        return [(str(row[0]), int(row[1]), int(row[2])) for row in rows]

    async def revenue_by_settlement_currency(self, since: datetime) -> list[tuple[str, int, int]]:
        """(settlement currency, settled minor units, payments) of paid transactions."""
        currency = func.coalesce(Transaction.settlement_currency, Transaction.currency)
        amount = func.coalesce(Transaction.settlement_amount_minor, Transaction.amount_minor)
        rows = await self.session.execute(
            select(currency, func.sum(amount), func.count())
            .where(
                Transaction.created_at >= since,
                Transaction.status.in_([TransactionStatus.SUCCEEDED, TransactionStatus.REFUNDED]),
            )
            .group_by(currency)
            .order_by(currency)
        )
        return [(str(row[0]), int(row[1] or 0), int(row[2])) for row in rows]

    async def refunded_by_currency(self, since: datetime) -> list[tuple[str, int]]:
        rows = await self.session.execute(
            select(Transaction.currency, func.sum(Transaction.refunded_minor))
            .where(Transaction.created_at >= since, Transaction.refunded_minor > 0)
            .group_by(Transaction.currency)
            .order_by(Transaction.currency)
        )
        return [(str(row[0]), int(row[1] or 0)) for row in rows]

    async def active_users(self, since: datetime) -> int:
        count = await self.session.scalar(
            select(func.count(distinct(Image.user_id))).where(Image.created_at >= since)
        )
        return int(count or 0)

    async def new_users(self, since: datetime) -> int:
        count = await self.session.scalar(
            select(func.count()).select_from(User).where(User.created_at >= since)
        )
        return int(count or 0)

    async def total_users(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(User)) or 0)


def _positive(expression: Any) -> Any:
    return case((expression > 0, expression), else_=0)


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
