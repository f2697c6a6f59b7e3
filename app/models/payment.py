from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId, UTCDateTime
from app.models.base import Base, TimestampMixin


class TransactionStatus(enum.StrEnum):
    # Written before the provider is called; a failed call rolls it back with the request.
    CREATED = "created"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    # Still open after PAYMENTS_ABANDON_AFTER_H: the buyer walked away. Touches no credits,
    # and a success that still comes in grants as usual.
    EXPIRED = "expired"


FINAL_STATUSES = frozenset(
    {
        TransactionStatus.SUCCEEDED,
        TransactionStatus.FAILED,
        TransactionStatus.CANCELLED,
        TransactionStatus.REFUNDED,
    }
)


class Transaction(TimestampMixin, Base):
    """A credit purchase. Credits granted come from `quantity` here, never from a payload."""

    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint(
            "status IN ('created', 'processing', 'succeeded', 'failed', 'cancelled', 'refunded',"
            " 'expired')",
            name="status_known",
        ),
        Index("ix_transactions_user_id_id", "user_id", "id"),
        # The periodic reconciler pages through open transactions by id.
        Index("ix_transactions_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    session_id: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    payment_id: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    product_id: Mapped[str] = mapped_column(String(128), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    # What we expect to be paid, in the currency's minor units.
    amount_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    credits_added: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    credits_taken_back: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Credits a refund could not take back because they were already spent.
    refund_shortfall: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    note: Mapped[str | None] = mapped_column(String(255), nullable=True)


class WebhookEvent(Base):
    """The webhook inbox: every verified delivery once, by its `webhook-id`."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    payment_id: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
