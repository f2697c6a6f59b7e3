from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId, UTCDateTime
from app.models.base import Base


class ShareLink(Base):
    """A public before/after page of one image (SPEC §4a): one live link per image.

    Only the SHA-256 of the token is stored, so a leaked database copy opens no page. The row
    goes with its image (and the image with its owner): a link never outlives what it shows.
    """

    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("images.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
