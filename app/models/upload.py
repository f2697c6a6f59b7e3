from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId, UTCDateTime
from app.models.base import Base


class UploadStatus(enum.StrEnum):
    # A presigned upload: the browser may or may not have posted the file yet, and it has not
    # been through image intake.
    PENDING = "pending"
    # Checked by image intake (type, decode, pixel cap) and stored without metadata.
    READY = "ready"


class Upload(Base):
    """An image a user put in our storage: who owns which key, and whether it was checked.

    `key` is the object every use reads (generation, photo checks, profile picture). A presigned
    upload also has `presigned_key`, the key its browser form may write for an hour: the check
    copies the checked bytes to a new server-named `key`, so whatever is posted to the form
    afterwards is never used (UP-06). Clients may name the upload by either key. What the
    photo checks measured in it is in `photo_checks` (`app.models.photo_check`).
    """

    __tablename__ = "uploads"
    __table_args__ = (CheckConstraint("status IN ('pending', 'ready')", name="status_known"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    key: Mapped[str] = mapped_column(String(1024), unique=True, nullable=False)
    presigned_key: Mapped[str | None] = mapped_column(String(1024), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    content_type: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), index=True, nullable=False
    )
