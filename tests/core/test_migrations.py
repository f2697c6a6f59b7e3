"""Alembic is the only schema source: migrations match the models and run both ways."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import create_engine
from app.models import Base
from tests.conftest import BACKEND, postgres_server_url, run_alembic
from tests.databases import own_postgres_database


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(engine: AsyncEngine, database_url: str) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_diff)
    assert differences == []


async def test_migrations_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        if BACKEND == "postgresql":
            # A second database of this run's own: the round trip must start from nothing.
            url = await stack.enter_async_context(
                own_postgres_database(postgres_server_url(), "migrations_")
            )
        else:
            url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
        await run_alembic(url, "head", "base", "head")
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                assert await connection.run_sync(_diff) == []
        finally:
            await engine.dispose()


async def test_cr07_every_integer_id_table_keeps_autoincrement_after_all_migrations(
    engine: AsyncEngine,
) -> None:
    """SQLite cannot reflect AUTOINCREMENT: a later batch migration that rebuilds a table
    without `table_kwargs={"sqlite_autoincrement": True}` silently brings id reuse back."""
    if BACKEND != "sqlite":
        return
    from sqlalchemy import text

    expected = {
        table.name
        for table in Base.metadata.tables.values()
        if table.dialect_kwargs.get("sqlite_autoincrement")
    }
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            )
        ).all()
    missing = sorted(name for name, sql in rows if name in expected and "AUTOINCREMENT" not in sql)
    assert expected
    assert missing == []
