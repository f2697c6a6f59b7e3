from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId, UTCDateTime
from app.models.base import Base


class AdminAudit(Base):
    """Append-only: who did what from /admin and why (CFG-05). Money moves also have their
    ledger row; this row names the admin and the reason for every action and edit."""

    __tablename__ = "admin_audit"
    __table_args__ = (Index("ix_admin_audit_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    # The bootstrap account's username or the admin user's email, as it was at the time.
    admin_name: Mapped[str] = mapped_column(String(320), nullable=False)
    admin_user_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="SET NULL"), index=True, nullable=True
    )
    # "grant_credits", "deduct_credits", "retry_image", "refund_image", "reprocess_webhook",
    # "revoke_session", "replace_thumbnail", "create", "update", "delete".
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    target_type: Mapped[str] = mapped_column(String(32), nullable=False)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    # What happened ("granted 5, balance 8", "already refunded", the changed fields).
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), index=True, nullable=False
    )
