from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId, UTCDateTime
from app.models.base import Base, TimestampMixin


class TransactionStatus(enum.StrEnum):
    # Written (and committed) before the provider is called; a failed call deletes it.
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
# A failed or cancelled attempt is not the end of a checkout: the customer can try again on
# the same page (a new payment id, the same session and metadata) while the session lives.
SETTLED_STATUSES = frozenset({TransactionStatus.SUCCEEDED, TransactionStatus.REFUNDED})
RETRYABLE_STATUSES = frozenset({TransactionStatus.FAILED, TransactionStatus.CANCELLED})
# Dodo's checkout sessions live 24 h (external-apis.md §2.2); after that no attempt can come.
CHECKOUT_SESSION_LIFETIME = timedelta(hours=24)


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
    # What the customer paid (total_amount, tax included) in its currency's minor units, once
    # a payment succeeded; before that the local list price, for display only. Never used to
    # decide how many credits a payment is worth.
    amount_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    tax_minor: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # What the merchant receives (adaptive currency: may differ from what the customer paid).
    settlement_amount_minor: Mapped[int | None] = mapped_column(Integer, nullable=True)
    settlement_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    discount_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # The sum of the succeeded refunds (rows in `payment_refunds`), in `currency`.
    refunded_minor: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
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
    # Standard Webhooks allows long ids; the verifier caps them at 255 (MAX_WEBHOOK_ID_LENGTH).
    webhook_id: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    payment_id: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )


class PaymentAttempt(Base):
    """One payment the provider made for one of our checkouts (a failed card, then a retry
    that succeeded, ...): how an attempt's payment id leads back to its transaction without
    pinning it on the transaction, which only a succeeded payment does."""

    __tablename__ = "payment_attempts"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("transactions.id", ondelete="CASCADE"), index=True, nullable=False
    )
    payment_id: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )


class PaymentRefund(Base):
    """A succeeded refund, once per provider refund id: refunds are summed, never re-counted
    when their webhook comes twice."""

    __tablename__ = "payment_refunds"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("transactions.id", ondelete="CASCADE"), index=True, nullable=False
    )
    refund_id: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    amount_minor: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
