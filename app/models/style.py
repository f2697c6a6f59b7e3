from __future__ import annotations

import enum

from sqlalchemy import Boolean, CheckConstraint, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId
from app.models.base import Base, TimestampMixin


class StyleCategory(enum.StrEnum):
    STANDARD = "standard"
    CELEBRITY = "celebrity"


class StyleGender(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    UNISEX = "unisex"


class StyleLength(enum.StrEnum):
    SHORT = "short"
    MEDIUM = "medium"
    LONG = "long"


class Style(TimestampMixin, Base):
    """A hairstyle of the catalogue. `prompt` (the cut only: the colour is chosen apart)
    drives the image model and is never exposed; `palette`, `length` and `texture` drive the
    local preview generator; `gender`, `length` and `tags` are the catalogue's facets."""

    __tablename__ = "styles"
    __table_args__ = (
        CheckConstraint("category IN ('standard', 'celebrity')", name="category_known"),
        CheckConstraint("gender IN ('female', 'male', 'unisex')", name="gender_known"),
        CheckConstraint("length IN ('short', 'medium', 'long')", name="length_known"),
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
    length: Mapped[str] = mapped_column(String(16), nullable=False)
    texture: Mapped[str | None] = mapped_column(String(16), nullable=True)
    gender: Mapped[str] = mapped_column(String(16), nullable=False, server_default="unisex")
    # Free tags, lower-case slugs joined by commas ("bob,sleek"): the catalogue is a few dozen
    # rows, so `tag=` is a LIKE over them on every database, no tag table needed.
    tags: Mapped[str] = mapped_column(String(300), nullable=False, server_default="")
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
