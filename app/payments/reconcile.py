"""Reconcile open transactions with the provider, for webhooks that never arrived.

Periodically, by itself: every API and worker process starts a `PaymentReconciler`
(PAYMENTS_RECONCILE_INTERVAL_S, 0 turns it off) and one of them at a time does a pass (a
PostgreSQL advisory lock; SQLite is one process). By hand, the same pass:

    python -m app.payments.reconcile      (make reconcile-payments)

A pass pages through ALL open transactions, oldest first (the periodic one only those older
than a minute: the customer may still be on the checkout page before that). Each one is
asked about by its checkout session outside any database transaction, then the same
idempotent effect a webhook would have is applied in its own short unit of work. Still open
after PAYMENTS_ABANDON_AFTER_H, it becomes `expired` (no credit change; a success that still
comes in grants). A provider outage ends the pass, and the next one waits longer (backoff).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from app.core.config import Settings, get_settings
from app.core.db import Database
from app.core.locks import held_alone
from app.core.logging import configure_process_logging
from app.integrations.payments.port import PaymentProvider, PaymentProviderError
from app.models import TransactionStatus
from app.payments.repository import OPEN_STATUSES, OpenTransaction, TransactionRepository
from app.payments.service import apply_reported_payment
from app.wiring import build_payment_provider

logger = logging.getLogger(__name__)
LOCK_NAME = "payments-reconcile"
# Younger than this the buyer may still be paying: the periodic pass does not ask yet (by
# hand, `make reconcile-payments` asks about every open transaction).
MIN_AGE = timedelta(minutes=1)
PAGE_SIZE = 100
DEFAULT_ABANDON_AFTER = timedelta(hours=48)
MAX_BACKOFF_S = 3600.0
# Every call would fail the same way (bad key, no permission): stop instead of asking each.
_AUTH_FAILURES = frozenset({401, 403})


def now_utc() -> datetime:
    return datetime.now(UTC)


class PassOutcomes(Counter[str]):
    """A pass's outcomes counted by name ("granted", "not_paid_yet", "expired", ...), plus
    what the loop paces itself by: whether it ran at all (another process held the lock) and
    the provider error that ended it early."""

    ran: bool = True
    stopped_by: PaymentProviderError | None = None


async def reconcile_open_transactions(
    database: Database,
    provider: PaymentProvider,
    *,
    abandon_after: timedelta = DEFAULT_ABANDON_AFTER,
    min_age: timedelta = timedelta(0),
    now: datetime | None = None,
    page_size: int = PAGE_SIZE,
) -> PassOutcomes:
    """One pass over every open transaction created at least `min_age` before `now`, unless
    another process is doing one."""
    now = now or now_utc()
    async with held_alone(database, LOCK_NAME) as alone:
        if not alone:
            outcomes = PassOutcomes()
            outcomes.ran = False
            return outcomes
        return await _scan(database, provider, now, min_age, abandon_after, page_size)


async def _scan(
    database: Database,
    provider: PaymentProvider,
    now: datetime,
    min_age: timedelta,
    abandon_after: timedelta,
    page_size: int,
) -> PassOutcomes:
    outcomes = PassOutcomes()
    abandon_before = now - abandon_after
    after_id = 0
    while True:
        async with database.unit_of_work(write=False) as session:
            page = await TransactionRepository(session).open_page(
                created_before=now - min_age, now=now, after_id=after_id, limit=page_size
            )
        for item in page:
            try:
                outcomes[await _reconcile_one(database, provider, item, abandon_before)] += 1
            except PaymentProviderError as exc:
                outcomes["provider_error"] += 1
                if exc.retryable or exc.status_code in _AUTH_FAILURES:
                    logger.warning("provider unavailable, reconciliation paused: %s", exc)
                    outcomes.stopped_by = exc
                    return outcomes
                # This one transaction's answer is unusable; the others may be fine.
                logger.warning("could not reconcile transaction %s: %s", item.id, exc)
        if len(page) < page_size:
            return outcomes
        after_id = page[-1].id


async def _reconcile_one(
    database: Database, provider: PaymentProvider, item: OpenTransaction, abandon_before: datetime
) -> str:
    # Asked before any database work: no transaction stays open across the provider call.
    payment = await provider.find_payment_for_session(item.session_id) if item.session_id else None
    abandoned = item.created_at < abandon_before
    if payment is None and not abandoned:
        return "not_paid_yet" if item.session_id else "no_session"
    async with database.unit_of_work() as session:
        transactions = TransactionRepository(session)
        outcome = "not_paid_yet"
        if payment is not None:
            outcome = await apply_reported_payment(session, payment)
        if abandoned:
            transaction = await transactions.get_for_update(item.id)
            if transaction is not None and transaction.status in OPEN_STATUSES:
                transaction.status = TransactionStatus.EXPIRED
                logger.info("transaction %s expired unpaid", item.id)
                outcome = "expired"
        return outcome


class PaymentReconciler:
    """The periodic loop, started with the process's resources (like the job sweeper)."""

    def __init__(
        self,
        database: Database,
        provider: PaymentProvider,
        *,
        interval_s: float,
        abandon_after: timedelta,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.database = database
        self.provider = provider
        self.interval_s = interval_s
        self.abandon_after = abandon_after
        self.clock = clock
        self.failed_passes = 0
        self.passes = 0
        self._pass_done = asyncio.Condition()

    @classmethod
    def from_settings(
        cls, settings: Settings, database: Database, provider: PaymentProvider
    ) -> PaymentReconciler:
        return cls(
            database,
            provider,
            interval_s=settings.PAYMENTS_RECONCILE_INTERVAL_S,
            abandon_after=timedelta(hours=settings.PAYMENTS_ABANDON_AFTER_H),
        )

    async def run_once(self) -> PassOutcomes:
        outcomes = await reconcile_open_transactions(
            self.database,
            self.provider,
            abandon_after=self.abandon_after,
            min_age=MIN_AGE,
            now=self.clock(),
        )
        if outcomes.ran and any(name != "not_paid_yet" for name in outcomes):
            logger.info("reconciled payments: %s", dict(outcomes))
        return outcomes

    def next_delay(self, outcomes: PassOutcomes | None) -> float:
        """The interval; after a pass the provider (or anything else) cut short, twice the
        previous wait, up to an hour, and never sooner than the provider's Retry-After."""
        if outcomes is not None and outcomes.stopped_by is None:
            self.failed_passes = 0
            return self.interval_s
        self.failed_passes += 1
        doubled = self.interval_s * float(2 ** min(self.failed_passes, 20))
        delay = min(doubled, max(MAX_BACKOFF_S, self.interval_s))
        retry_after = outcomes.stopped_by.retry_after if outcomes and outcomes.stopped_by else None
        return max(delay, retry_after or 0.0)

    async def wait_for_passes(self, count: int) -> None:
        """Until `count` passes have finished (tests and diagnostics)."""
        async with self._pass_done:
            await self._pass_done.wait_for(lambda: self.passes >= count)

    async def run_forever(self) -> None:
        while True:
            outcomes: PassOutcomes | None = None
            try:
                outcomes = await self.run_once()
            except Exception:
                logger.exception("payment reconciliation failed; trying again later")
            async with self._pass_done:
                self.passes += 1
                self._pass_done.notify_all()
            await asyncio.sleep(self.next_delay(outcomes))


async def _main() -> None:
    from app.integrations.payments.dodo import DodoPayments

    # Operator output as log lines: JSON in production like every other line.
    configure_process_logging()
    settings = get_settings()
    provider = build_payment_provider(settings)
    if provider is None:
        logger.info("payments are not configured: nothing to reconcile")
        return
    database = Database.from_url(settings.DATABASE_URL)
    try:
        outcomes = await reconcile_open_transactions(
            database, provider, abandon_after=timedelta(hours=settings.PAYMENTS_ABANDON_AFTER_H)
        )
    finally:
        await database.dispose()
        if isinstance(provider, DodoPayments):
            await provider.aclose()
    if not outcomes.ran:
        logger.info("another process is reconciling payments right now; nothing done")
    else:
        logger.info("reconciled: %s", dict(outcomes) or "no open transactions")
        if outcomes.stopped_by is not None:
            logger.warning("stopped early, the provider is unavailable: %s", outcomes.stopped_by)


if __name__ == "__main__":
    asyncio.run(_main())
