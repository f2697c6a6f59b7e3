"""What the database knows for /metrics: one aggregate query per family, no rows loaded."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.credit_ledger import CreditLedgerEntry
from app.models.image import Image
from app.models.payment import WebhookEvent

# Seconds; the local generator answers in well under one, Replicate in tens.
GENERATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)


@dataclass
class MetricsSnapshot:
    jobs_by_state: dict[str, int] = field(default_factory=dict)
    views_by_state: dict[str, int] = field(default_factory=dict)
    failures_by_code: dict[str, int] = field(default_factory=dict)
    # (upper bound, completed generations that took at most that long), cumulative.
    generation_buckets: list[tuple[float, int]] = field(default_factory=list)
    generation_count: int = 0
    generation_seconds: float = 0.0
    credits_granted: dict[str, int] = field(default_factory=dict)
    credits_spent: dict[str, int] = field(default_factory=dict)
    webhooks_by_outcome: dict[str, int] = field(default_factory=dict)


class MetricsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def snapshot(self) -> MetricsSnapshot:
        snapshot = MetricsSnapshot()
        snapshot.jobs_by_state = await self._count_by(Image.status)
        snapshot.views_by_state = await self._count_by(Image.views_status)
        failures = await self.session.execute(
            select(Image.error_code, func.count())
            .where(Image.status == "failed")
            .group_by(Image.error_code)
        )
        snapshot.failures_by_code = {str(code or "UNKNOWN"): int(n) for code, n in failures.all()}
        await self._generation_times(snapshot)
        credits = await self.session.execute(
            select(
                CreditLedgerEntry.reason,
                func.coalesce(
                    func.sum(case((CreditLedgerEntry.delta > 0, CreditLedgerEntry.delta), else_=0)),
                    0,
                ),
                func.coalesce(
                    func.sum(
                        case((CreditLedgerEntry.delta < 0, -CreditLedgerEntry.delta), else_=0)
                    ),
                    0,
                ),
            ).group_by(CreditLedgerEntry.reason)
        )
        for reason, granted, spent in credits.all():
            if granted:
                snapshot.credits_granted[str(reason)] = int(granted)
            if spent:
                snapshot.credits_spent[str(reason)] = int(spent)
        webhooks = await self.session.execute(
            select(WebhookEvent.outcome, func.count()).group_by(WebhookEvent.outcome)
        )
        # No outcome yet: the delivery is being processed (or its processing failed).
        snapshot.webhooks_by_outcome = {
            str(name or "pending"): int(n) for name, n in webhooks.all()
        }
        return snapshot

    async def _count_by(self, column: object) -> dict[str, int]:
        rows = await self.session.execute(
            select(column, func.count()).group_by(column)  # type: ignore[call-overload]
        )
        return {str(value): int(n) for value, n in rows.all()}

    async def _generation_times(self, snapshot: MetricsSnapshot) -> None:
        done = Image.time_taken.is_not(None) & (Image.status == "completed")
        columns = [
            func.coalesce(func.sum(case((Image.time_taken <= bound, 1), else_=0)), 0)
            for bound in GENERATION_BUCKETS
        ]
        row = (
            await self.session.execute(
                select(
                    func.count(), func.coalesce(func.sum(Image.time_taken), 0.0), *columns
                ).where(done)
            )
        ).one()
        snapshot.generation_count = int(row[0])
        snapshot.generation_seconds = float(row[1])
        snapshot.generation_buckets = [
            (bound, int(n)) for bound, n in zip(GENERATION_BUCKETS, row[2:], strict=True)
        ]
