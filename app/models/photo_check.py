from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, SmallInteger, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId, UTCDateTime
from app.models.base import Base


class PhotoCheck(Base):
    """What the photo checks measured in one upload, kept so a generation only reads it.

    The measurements are stored, not the verdict: thresholds are settings and apply to these
    numbers on every use. A row of another `version` than the code's (`MEASURE_VERSION`) is
    measured again; version 0 rows came from the old `uploads.has_face` flag (migration 0016),
    which knew only whether a face was found.
    """

    __tablename__ = "photo_checks"

    upload_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    face_count: Mapped[int] = mapped_column(Integer, nullable=False)
    brightness: Mapped[float | None] = mapped_column(Float, nullable=True)
    sharpness: Mapped[float | None] = mapped_column(Float, nullable=True)
    face_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    face_sharpness: Mapped[float | None] = mapped_column(Float, nullable=True)
    checked_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
