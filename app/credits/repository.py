"""Credit movements as single atomic statements: the ledger row claims the business key first,
then the balance changes with a conditional UPDATE ... RETURNING."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import BindParameter, Integer, Select, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import WRITES_OPTION
from app.core.repository import Repository, insert_on_conflict
from app.models import CreditLedgerEntry, User


@dataclass(frozen=True, slots=True)
class Charged:
    """What `CreditLedgerRepository.charge` did: `key_used` when the business key already named
    a row (then nothing moved, or what moved must be rolled back); else the new balance, or
    None when it was too low (nothing moved)."""

    key_used: bool
    balance: int | None


class CreditLedgerRepository(Repository[CreditLedgerEntry]):
    model = CreditLedgerEntry

    def __init__(self, session: AsyncSession, *, unsafe_read_modify_write: bool = False) -> None:
        super().__init__(session)
        # Only for CR-06 and CR-02's control: the naive debit (CreditsService), to prove the
        # double-spend tests can fail.
        self.unsafe_read_modify_write = unsafe_read_modify_write

    async def claim(
        self,
        *,
        user_id: int,
        delta: int,
        reason: str,
        business_key: str,
        reference_type: str | None,
        reference_id: str | None,
        note: str | None = None,
    ) -> int | None:
        """Insert the ledger row unless its business key exists; its id, or None if it did."""
        values = {
            "user_id": user_id,
            "delta": delta,
            "reason": reason,
            "business_key": business_key,
            "reference_type": reference_type,
            "reference_id": reference_id,
            "note": note,
            # Set for real once the balance has moved, in the same transaction.
            "balance_after": 0,
        }
        statement = (
            insert_on_conflict(self.session, CreditLedgerEntry)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["business_key"])
            .returning(CreditLedgerEntry.id)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def has_entry(self, user_id: int, business_key: str) -> bool:
        found = await self.session.scalar(
            select(CreditLedgerEntry.id).where(
                CreditLedgerEntry.business_key == business_key,
                CreditLedgerEntry.user_id == user_id,
            )
        )
        return found is not None

    async def set_balance_after(self, entry_id: int, balance: int) -> None:
        await self.session.execute(
            update(CreditLedgerEntry)
            .where(CreditLedgerEntry.id == entry_id)
            .values(balance_after=balance)
        )

    async def lock_balance(self, user_id: int) -> int:
        """The balance, with the row locked until the transaction ends (PostgreSQL)."""
        balance = await self.session.scalar(
            select(User.credits).where(User.id == user_id).with_for_update()
        )
        return int(balance or 0)

    async def change_balance(self, user_id: int, delta: int, *, entry_id: int) -> int | None:
        """Add `delta` unless the balance would go below zero, and write the new balance into
        the ledger row `entry_id`; the new balance, or None (then nothing moved).

        One conditional UPDATE: the check and the write are one statement, so concurrent
        debits can never overdraw (CR-01). On PostgreSQL the ledger row's `balance_after` is
        set in the same statement (a data-modifying CTE), so the user's row lock, taken here,
        is held for one round trip before COMMIT rather than two. SQLite locks the whole
        database from the transaction's first write, so there a second statement costs no
        lock time."""
        moved = (
            update(User)
            .where(User.id == user_id, User.credits + delta >= 0)
            .values(credits=User.credits + delta)
            .returning(User.id, User.credits)
        )
        if self.session.get_bind().dialect.name != "postgresql":
            row = (await self.session.execute(moved)).one_or_none()
            balance = None if row is None else int(row.credits)
            if balance is not None:
                await self.set_balance_after(entry_id, balance)
            return balance
        new = moved.cte("moved")
        recorded = (
            update(CreditLedgerEntry)
            # The join condition is true by construction (the entry is this user's); it tells
            # the statement how the two rows relate instead of a cross product.
            .where(CreditLedgerEntry.id == entry_id, CreditLedgerEntry.user_id == new.c.id)
            .values(balance_after=new.c.credits)
            .returning(new.c.credits)
            # Callers use the returned balance, not ORM objects (the CTE's change to the user's
            # row is invisible to the ORM anyway); the "fetch" sync would consume RETURNING.
            .execution_options(synchronize_session=False)
        )
        recorded_balance: int | None = (await self.session.execute(recorded)).scalar_one_or_none()
        return recorded_balance

    async def charge(
        self,
        *,
        user_id: int,
        amount: int,
        reason: str,
        business_key: str,
        reference_type: str | None,
        reference_id: str | None,
    ) -> Charged:
        """Take `amount` with its ledger row, once per business key: `claim` then
        `change_balance`, as one statement on PostgreSQL.

        There the balance update (which locks the user's row) runs first in a data-modifying
        CTE, only if the key names no row yet, and the ledger row is inserted from what it
        returned, `balance_after` included: one round trip instead of two, with the row lock
        held for that statement and the commit. A key taken by a concurrent transaction
        between the snapshot and the insert leaves the balance moved without its row:
        `key_used` is then reported and the caller must raise (the transaction rolls back)."""
        if self.session.get_bind().dialect.name != "postgresql":
            entry_id = await self.claim(
                user_id=user_id,
                delta=-amount,
                reason=reason,
                business_key=business_key,
                reference_type=reference_type,
                reference_id=reference_id,
            )
            if entry_id is None:
                return Charged(key_used=True, balance=None)
            balance = await self.change_balance(user_id, -amount, entry_id=entry_id)
            return Charged(key_used=False, balance=balance)
        params = {
            "user_id": user_id,
            "amount": amount,
            "delta": -amount,
            "reason": reason,
            "business_key": business_key,
            "reference_type": reference_type,
            "reference_id": reference_id,
        }
        outcome = (await self.session.execute(_charge_in_one(), params)).one()
        if outcome.used or (outcome.balance is not None and outcome.entry_id is None):
            return Charged(key_used=True, balance=None)
        return Charged(key_used=False, balance=outcome.balance)

    async def read_balance(self, user_id: int) -> int | None:
        """A plain read of the balance (no lock): only the CR-06 naive debit decides on it."""
        return await self.session.scalar(select(User.credits).where(User.id == user_id))

    async def overwrite_balance(self, user_id: int, balance: int) -> None:
        # Deliberately wrong (CR-06): writes a balance computed from an earlier read.
        await self.session.execute(update(User).where(User.id == user_id).values(credits=balance))

    async def list_for_user(
        self, user_id: int, *, offset: int, limit: int
    ) -> list[CreditLedgerEntry]:
        rows = await self.session.scalars(
            select(CreditLedgerEntry)
            .where(CreditLedgerEntry.user_id == user_id)
            .order_by(CreditLedgerEntry.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return list(rows)

    async def count_for_user(self, user_id: int) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(CreditLedgerEntry)
                .where(CreditLedgerEntry.user_id == user_id)
            )
            or 0
        )

    async def sum_for_user(self, user_id: int) -> int:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(CreditLedgerEntry.delta), 0)).where(
                CreditLedgerEntry.user_id == user_id
            )
        )
        return int(total or 0)


@functools.cache
def _charge_in_one() -> Select[bool, int | None, int | None]:
    """`CreditLedgerRepository.charge`'s PostgreSQL statement, built once per process (building
    it per call cost more CPU than its round trip); the values are bound at execution."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    used = exists().where(CreditLedgerEntry.business_key == bindparam("business_key"))
    amount: BindParameter[int] = bindparam("amount", type_=Integer)
    moved = (
        update(User)
        .where(User.id == bindparam("user_id"), User.credits - amount >= 0, ~used)
        .values(credits=User.credits - amount)
        .returning(User.credits)
        .cte("moved")
    )
    columns = ("user_id", "delta", "reason", "business_key", "reference_type", "reference_id")
    row = select(
        *(bindparam(name, type_=CreditLedgerEntry.__table__.c[name].type) for name in columns),
        moved.c.credits,
    )
    entry = (
        pg_insert(CreditLedgerEntry)
        .from_select([*columns, "balance_after"], row)
        .on_conflict_do_nothing(index_elements=["business_key"])
        .returning(CreditLedgerEntry.id)
        .cte("entry")
    )
    return select(
        used.label("used"),
        select(moved.c.credits).scalar_subquery().label("balance"),
        select(entry.c.id).scalar_subquery().label("entry_id"),
    ).execution_options(**{WRITES_OPTION: True})
