"""CR-03: whatever happens (purchases, duplicate purchase events, spends, failed jobs refunded
once or many times), the balance equals the sum of the ledger and never goes below zero.

A Hypothesis state machine drives the one credits service against the real database, each step
in its own committed unit of work, as requests and jobs do."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Database
from app.credits.exceptions import InsufficientCredits
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.models import CreditLedgerEntry, CreditReason, User

T = TypeVar("T")
_ids = itertools.count(1)


class LedgerMachine(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    database: Database

    def __init__(self) -> None:
        super().__init__()
        self.user_id = self._run(self._create_user)
        self.purchases: list[str] = []
        self.spent_jobs: list[str] = []

    def _run(self, step: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def in_unit_of_work() -> T:
            async with self.database.unit_of_work() as session:
                return await step(session)

        return self.loop.run_until_complete(in_unit_of_work())

    @staticmethod
    async def _create_user(session: AsyncSession) -> int:
        user = User(email=f"ledger-{uuid.uuid4().hex}@example.com", name="Ledger", credits=0)
        session.add(user)
        await session.flush()
        return user.id

    def _service(self, session: AsyncSession) -> CreditsService:
        return CreditsService(CreditLedgerRepository(session))

    @rule(quantity=st.integers(min_value=1, max_value=10))
    def purchase(self, quantity: int) -> None:
        transaction = f"t{next(_ids)}"
        self.purchases.append(transaction)
        self._run(
            lambda s: self._service(s).grant(
                self.user_id, quantity, CreditReason.PURCHASE, Reference("transaction", transaction)
            )
        )

    @rule(data=st.data())
    def duplicate_purchase_event(self, data: st.DataObject) -> None:
        if not self.purchases:
            return
        transaction = data.draw(st.sampled_from(self.purchases))
        change = self._run(
            lambda s: self._service(s).grant(
                self.user_id, 5, CreditReason.PURCHASE, Reference("transaction", transaction)
            )
        )
        assert not change.applied, "a replayed purchase must change nothing"

    @rule(cost=st.sampled_from([1, 3]))
    def spend(self, cost: int) -> None:
        job = f"j{next(_ids)}"
        reason = CreditReason.GENERATION if cost == 1 else CreditReason.VIEW_GENERATION
        reference = Reference("image", job)
        try:
            self._run(lambda s: self._service(s).debit(self.user_id, cost, reason, reference))
        except InsufficientCredits:
            return
        self.spent_jobs.append(job)

    @rule(data=st.data())
    def job_fails_and_is_refunded(self, data: st.DataObject) -> None:
        if not self.spent_jobs:
            return
        job = data.draw(st.sampled_from(self.spent_jobs))
        # Reported again and again (webhook, poller, sweeper): refunded at most once.
        self._run(lambda s: self._service(s).refund(self.user_id, 1, Reference("image", job)))

    @invariant()
    def balance_equals_the_ledger_and_is_never_negative(self) -> None:
        async def read(session: AsyncSession) -> tuple[int, int]:
            balance = await session.scalar(select(User.credits).where(User.id == self.user_id))
            total = await session.scalar(
                select(func.coalesce(func.sum(CreditLedgerEntry.delta), 0)).where(
                    CreditLedgerEntry.user_id == self.user_id
                )
            )
            return int(balance or 0), int(total or 0)

        balance, total = self._run(read)
        assert balance == total
        assert balance >= 0


def test_cr03_ledger_invariant_holds_under_any_sequence(database_url: str) -> None:
    loop = asyncio.new_event_loop()
    database = Database.from_url(database_url)
    LedgerMachine.loop = loop
    LedgerMachine.database = database
    try:
        run = LedgerMachine.TestCase
        run.settings = settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        run().runTest()
    finally:
        loop.run_until_complete(database.dispose())
        loop.close()
