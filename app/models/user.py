from __future__ import annotations

import enum

from sqlalchemy import Boolean, CheckConstraint, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId
from app.models.base import Base, TimestampMixin


class UserRole(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("credits >= 0", name="credits_non_negative"),
        CheckConstraint("role IN ('user', 'admin')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # Null for accounts that only ever signed in with Google.
    hashed_password: Mapped[str | None] = mapped_column(String(255), nullable=True)
    userpic: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    verified: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    role: Mapped[str] = mapped_column(String(16), nullable=False, server_default=UserRole.USER)
    # Cached balance; the credit ledger is the source of truth and the CHECK the last guard.
    credits: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    google_sub: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    # The person's own retention window (SPEC §4a): their uploads and results older than this
    # many days are deleted by the periodic purge; None keeps them (UPLOAD_RETENTION_DAYS
    # still applies to unused uploads).
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.ADMIN
