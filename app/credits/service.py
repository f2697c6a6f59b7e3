"""The one way credits move: every change is a ledger row and a balance update in the
caller's transaction, at most once per business key."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from app.credits.exceptions import DebitNotApplied, InsufficientCredits
from app.credits.repository import CreditLedgerRepository
from app.models import CreditLedgerEntry, CreditReason

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reference:
    type: str
    id: str | int


def business_key(reason: CreditReason, reference: Reference) -> str:
    """The ledger row's unique key: one movement per reason and referenced object."""
    return f"{reason.value}:{reference.type}:{reference.id}"


@dataclass(frozen=True, slots=True)
class CreditChange:
    applied: bool
    balance: int | None


class CreditsService:
    def __init__(self, ledger: CreditLedgerRepository) -> None:
        self.ledger = ledger

    async def grant(
        self,
        user_id: int,
        amount: int,
        reason: CreditReason,
        reference: Reference,
        *,
        note: str | None = None,
    ) -> CreditChange:
        if amount <= 0:
            raise ValueError("grant a positive amount")
        return await self._move(user_id, amount, reason, reference, note)

    async def debit(
        self,
        user_id: int,
        amount: int,
        reason: CreditReason,
        reference: Reference,
        *,
        note: str | None = None,
    ) -> CreditChange:
        """Take `amount` or raise InsufficientCredits; the caller's transaction then rolls
        back the ledger row with everything else."""
        if amount <= 0:
            raise ValueError("debit a positive amount")
        return await self._move(user_id, -amount, reason, reference, note)

    async def charge(
        self,
        user_id: int,
        amount: int,
        reason: CreditReason,
        reference: Reference,
        *,
        seen_balance: int | None = None,
    ) -> CreditChange:
        """Take payment for work about to start. Unlike `debit`, a business key that was
        already used raises: the work must not start on someone else's (or an earlier) charge
        — that is how a reused id once made generations free (CR-08)."""
        if amount <= 0:
            raise ValueError("charge a positive amount")
        key = business_key(reason, reference)
        if self.ledger.unsafe_read_modify_write:
            change = await self._move_naively(
                user_id, -amount, reason, reference, None, seen_balance
            )
            if not change.applied:
                raise DebitNotApplied(key)
            return change
        charged = await self.ledger.charge(
            user_id=user_id,
            amount=amount,
            reason=reason.value,
            business_key=key,
            reference_type=reference.type,
            reference_id=str(reference.id),
        )
        if charged.key_used:
            raise DebitNotApplied(key)
        if charged.balance is None:
            raise InsufficientCredits()
        return CreditChange(applied=True, balance=charged.balance)

    async def _move(
        self,
        user_id: int,
        delta: int,
        reason: CreditReason,
        reference: Reference,
        note: str | None,
    ) -> CreditChange:
        if self.ledger.unsafe_read_modify_write:
            return await self._move_naively(user_id, delta, reason, reference, note)
        entry_id = await self.ledger.claim(
            user_id=user_id,
            delta=delta,
            reason=reason.value,
            business_key=business_key(reason, reference),
            reference_type=reference.type,
            reference_id=str(reference.id),
            note=note,
        )
        if entry_id is None:
            return CreditChange(applied=False, balance=None)
        # The ledger row first, the balance last: the balance update is what locks the user's
        # row (PostgreSQL), so it is the final statement and records balance_after itself.
        balance = await self.ledger.change_balance(user_id, delta, entry_id=entry_id)
        if balance is None:
            raise InsufficientCredits()
        return CreditChange(applied=True, balance=balance)

    async def _move_naively(
        self,
        user_id: int,
        delta: int,
        reason: CreditReason,
        reference: Reference,
        note: str | None,
        seen_balance: int | None = None,
    ) -> CreditChange:
        """Deliberately wrong (CR-06, CR-02's control; refused in production): decide on a
        balance read earlier (`seen_balance`, what the request loaded before any lock, or a
        plain read now), then write the balance computed from it — what a read-check-write in
        Python does. Concurrent requests all see the same balance."""
        current = (
            seen_balance if seen_balance is not None else await self.ledger.read_balance(user_id)
        )
        await asyncio.sleep(0.01)
        if current is None or current + delta < 0:
            raise InsufficientCredits()
        entry_id = await self.ledger.claim(
            user_id=user_id,
            delta=delta,
            reason=reason.value,
            business_key=business_key(reason, reference),
            reference_type=reference.type,
            reference_id=str(reference.id),
            note=note,
        )
        if entry_id is None:
            return CreditChange(applied=False, balance=None)
        await self.ledger.overwrite_balance(user_id, current + delta)
        await self.ledger.set_balance_after(entry_id, current + delta)
        return CreditChange(applied=True, balance=current + delta)

    async def refund(
        self,
        user_id: int,
        amount: int,
        reference: Reference,
        *,
        charged: tuple[CreditReason, Reference],
    ) -> CreditChange:
        """Give back a failed job's charge, once per reference whoever reports the failure, and
        only when `user_id` was charged for that job (`charged`: the charge's reason and
        reference); a failure of work nobody paid for creates no credits."""
        reason, charge_reference = charged
        if not await self.ledger.has_entry(user_id, business_key(reason, charge_reference)):
            logger.warning("no charge %s to refund", business_key(reason, charge_reference))
            return CreditChange(applied=False, balance=None)
        return await self.grant(user_id, amount, CreditReason.REFUND, reference)

    async def history(
        self, user_id: int, *, page: int, limit: int
    ) -> tuple[list[CreditLedgerEntry], int]:
        entries = await self.ledger.list_for_user(user_id, offset=(page - 1) * limit, limit=limit)
        return entries, await self.ledger.count_for_user(user_id)
