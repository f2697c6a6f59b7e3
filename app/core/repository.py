"""A typed base for repositories: one per aggregate, queries named after what they ask."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Base

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

ModelT = TypeVar("ModelT", bound=Base)


class Repository(Generic[ModelT]):
    model: type[ModelT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, id_: Any) -> ModelT | None:
        return await self.session.get(self.model, id_)

    async def add(self, instance: ModelT) -> ModelT:
        self.session.add(instance)
        await self.session.flush()
        return instance

    async def delete(self, instance: ModelT) -> None:
        await self.session.delete(instance)
        await self.session.flush()


def insert_on_conflict(session: AsyncSession, entity: type[Base]) -> PostgresInsert | SqliteInsert:
    """The INSERT of the session's dialect, the one with ON CONFLICT (insert-if-absent, upsert).
    Each dialect's module is imported when first used: a worker on SQLite never loads
    PostgreSQL's dialect (~2 MB). (SQLite's is loaded in every process: the models'
    `sqlite_autoincrement` option needs it, app/models/base.py.)"""
    return dialect_insert(session.get_bind().dialect.name, entity)


def dialect_insert(dialect: str, entity: type[Base]) -> PostgresInsert | SqliteInsert:
    """`insert_on_conflict` for a dialect named ahead of any session (a statement built once)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgres_insert

        return postgres_insert(entity)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(entity)
