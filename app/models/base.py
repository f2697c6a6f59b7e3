"""Declarative base with a naming convention, so Alembic names constraints the same way
on every backend."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.core.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def never_reuse_ids(metadata: MetaData) -> None:
    """Give every table with an integer id SQLite's AUTOINCREMENT (PostgreSQL's sequences never
    go back). Without it SQLite hands a deleted newest row's id to the next insert, and every
    key that names the old id — a ledger row `generation:image:N`, an idempotency answer, a URL,
    a session in a token — then names the new row too (CR-07)."""
    for table in metadata.tables.values():
        primary = list(table.primary_key.columns)
        if len(primary) == 1 and primary[0].autoincrement is True:
            table.dialect_kwargs["sqlite_autoincrement"] = True


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), onupdate=func.now(), nullable=False
    )
