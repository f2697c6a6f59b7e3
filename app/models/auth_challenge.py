from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId, UTCDateTime
from app.models.base import Base


class ChallengePurpose(enum.StrEnum):
    SIGNUP = "signup"
    LOGIN = "login"
    PASSWORD_RESET = "password_reset"


class AuthChallenge(Base):
    """One emailed proof of control: a 6-digit code and/or a link token, both stored hashed.

    The client only ever sees `handle`, an opaque pointer to this row.

    A signup challenge is that signup's pending registration: it holds the name and password
    hash the signup chose, and only redeeming it makes them the account's (AUTH-13).
    """

    __tablename__ = "auth_challenges"
    __table_args__ = (
        CheckConstraint("purpose IN ('signup', 'login', 'password_reset')", name="purpose_known"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    purpose: Mapped[str] = mapped_column(String(24), nullable=False)
    handle: Mapped[str] = mapped_column(String(96), unique=True, nullable=False)
    code_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    link_token_hash: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    pending_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    pending_password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
