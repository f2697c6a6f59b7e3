"""CR-03: whatever happens (purchases, duplicate purchase events, spends, failed jobs refunded
once or many times, images deleted and new ones made), the balance equals the sum of the
ledger, never goes below zero and moves exactly as the steps say; no image id is handed out
twice, so no ledger key ever names two jobs (CR-07).

A Hypothesis state machine drives the one credits service against the real database, each step
in its own committed unit of work, as requests and jobs do; spends charge real image rows."""

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
from app.models import CreditLedgerEntry, CreditReason, Image, ImageStatus, User
from tests.factories import create_image

T = TypeVar("T")
_ids = itertools.count(1)


class LedgerMachine(RuleBasedStateMachine):
    loop: asyncio.AbstractEventLoop
    database: Database

    def __init__(self) -> None:
        super().__init__()
        self.user_id = self._run(self._create_user)
        self.purchases: list[str] = []
        # image id -> (reason it was charged under, refunds still possible)
        self.spent_jobs: dict[int, CreditReason] = {}
        self.refunded: set[str] = set()
        self.ids_ever_made: set[int] = set()
        self.expected_balance = 0

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
        self.expected_balance += quantity

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
        """As start_generation does: a new image row, then its charge, in one unit of work."""
        reason = CreditReason.GENERATION if cost == 1 else CreditReason.VIEW_GENERATION

        async def make_and_charge(session: AsyncSession) -> int:
            # Committed to the run's shared database: finished, so no job test's sweeper ever
            # takes these stand-ins for waiting jobs (the ledger does not look at the status).
            image = await create_image(session, user_id=self.user_id, status=ImageStatus.COMPLETED)
            await self._service(session).charge(
                self.user_id, cost, reason, Reference("image", image.id)
            )
            return image.id

        try:
            image_id = self._run(make_and_charge)
        except InsufficientCredits:
            return
        assert image_id not in self.ids_ever_made, f"image id {image_id} was handed out twice"
        self.ids_ever_made.add(image_id)
        self.spent_jobs[image_id] = reason
        self.expected_balance -= cost

    @rule(data=st.data())
    def newest_image_is_deleted(self, data: st.DataObject) -> None:
        """The user deletes an image (the newest is the one SQLite would hand out again)."""
        if not self.ids_ever_made:
            return
        newest = max(self.ids_ever_made)
        image_id = (
            newest
            if data.draw(st.booleans())
            else data.draw(st.sampled_from(sorted(self.ids_ever_made)))
        )

        async def delete(session: AsyncSession) -> None:
            image = await session.get(Image, image_id)
            if image is not None:
                await session.delete(image)

        self._run(delete)

    @rule(data=st.data())
    def job_fails_and_is_refunded(self, data: st.DataObject) -> None:
        if not self.spent_jobs:
            return
        image_id = data.draw(st.sampled_from(sorted(self.spent_jobs)))
        reason = self.spent_jobs[image_id]
        # A view job refunds per view; a generation once. Reported again and again (webhook,
        # poller, sweeper): refunded at most once per reference.
        view = data.draw(st.sampled_from(["left", "right", "back"]))
        reference = (
            Reference("image", image_id)
            if reason == CreditReason.GENERATION
            else Reference("view", f"{image_id}-{view}")
        )
        change = self._run(
            lambda s: self._service(s).refund(
                self.user_id, 1, reference, charged=(reason, Reference("image", image_id))
            )
        )
        key = f"{reference.type}:{reference.id}"
        assert change.applied == (key not in self.refunded)
        if change.applied:
            self.refunded.add(key)
            self.expected_balance += 1

    @rule()
    def refund_of_work_never_charged(self) -> None:
        job = f"never-charged-{next(_ids)}"
        change = self._run(
            lambda s: self._service(s).refund(
                self.user_id,
                1,
                Reference("image", job),
                charged=(CreditReason.GENERATION, Reference("image", job)),
            )
        )
        assert not change.applied

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
        assert balance == self.expected_balance


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
