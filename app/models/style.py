from __future__ import annotations

import enum

from sqlalchemy import Boolean, CheckConstraint, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId
from app.models.base import Base, TimestampMixin


class StyleCategory(enum.StrEnum):
    STANDARD = "standard"
    CELEBRITY = "celebrity"


class Style(TimestampMixin, Base):
    """A hairstyle of the catalogue. `prompt` drives the image model and is never exposed;
    `palette`, `length` and `texture` drive the local preview generator."""

    __tablename__ = "styles"
    __table_args__ = (
        CheckConstraint("category IN ('standard', 'celebrity')", name="category_known"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(300), nullable=False)
    prompt: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    # "static/styles/x.jpg" for thumbnails shipped with the app, else a storage key.
    thumbnail: Mapped[str] = mapped_column(String(1024), nullable=False)
    # Comma-separated #rrggbb colours, roots to ends.
    palette: Mapped[str] = mapped_column(String(64), nullable=False)
    length: Mapped[str | None] = mapped_column(String(16), nullable=True)
    texture: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
