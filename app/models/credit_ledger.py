from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId, UTCDateTime
from app.models.base import Base


class CreditReason(enum.StrEnum):
    SIGNUP_BONUS = "signup_bonus"
    GENERATION = "generation"
    VIEW_GENERATION = "view_generation"
    REFUND = "refund"
    PURCHASE = "purchase"
    PAYMENT_REFUND = "payment_refund"
    ADMIN_ADJUSTMENT = "admin_adjustment"


_REASONS = ", ".join(f"'{reason.value}'" for reason in CreditReason)


class CreditLedgerEntry(Base):
    """Append-only: every change of a user's balance, once per business key."""

    __tablename__ = "credit_ledger"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="delta_non_zero"),
        CheckConstraint(f"reason IN ({_REASONS})", name="reason_known"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    delta: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    # What the change is about ("image", "transaction", "user") and its id.
    reference_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reference_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Makes each change happen once: "signup_bonus:user:7", "refund:image:42", ...
    business_key: Mapped[str] = mapped_column(String(160), unique=True, nullable=False)
    balance_after: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
