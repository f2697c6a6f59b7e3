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
