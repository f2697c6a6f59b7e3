"""The unit of work and the SQLite setup that keeps concurrent writers from failing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Database
from app.models import User
from tests.factories import create_user


async def _counter_database(path: Path) -> Database:
    database = Database.from_url(f"sqlite:///{path}")
    async with database.unit_of_work() as session:
        await session.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        await session.execute(text("INSERT INTO counter (id, n) VALUES (1, 0)"))
    return database


async def _read_then_write(database: Database) -> None:
    async with database.unit_of_work(write=True) as session:
        current = (await session.execute(text("SELECT n FROM counter WHERE id = 1"))).scalar_one()
        await asyncio.sleep(0.005)
        await session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": current + 1})


async def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        async with database.unit_of_work(write=False) as session:
            mode = (await session.execute(text("PRAGMA journal_mode"))).scalar_one()
            timeout = (await session.execute(text("PRAGMA busy_timeout"))).scalar_one()
        assert mode == "wal"
        assert timeout >= 5000
    finally:
        await database.dispose()


async def test_sqlite_write_units_serialise_instead_of_failing_locked(tmp_path: Path) -> None:
    """Deferred transactions that read then write fail with "database is locked" under
    concurrency; BEGIN IMMEDIATE makes them queue. 20 concurrent read-modify-writes must all
    succeed and none may be lost."""
    database = await _counter_database(tmp_path / "immediate.db")
    try:
        await asyncio.gather(*(_read_then_write(database) for _ in range(20)))
        async with database.unit_of_work(write=False) as session:
            total = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
        assert total == 20
    finally:
        await database.dispose()


async def test_unit_of_work_rolls_back_on_error(resources_database: Database) -> None:
    async def fail_after_writing() -> None:
        async with resources_database.unit_of_work() as session:
            session.add(User(email="rollback@example.com", name="Roll Back"))
            await session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_after_writing()
    async with resources_database.unit_of_work(write=False) as session:
        found = await session.execute(
            text("SELECT count(*) FROM users WHERE email = 'rollback@example.com'")
        )
        assert found.scalar_one() == 0


async def test_credits_cannot_go_negative_in_the_database(session: AsyncSession) -> None:
    user = await create_user(session, credits=0)
    with pytest.raises(IntegrityError):
        await session.execute(
            text("UPDATE users SET credits = credits - 1 WHERE id = :id"), {"id": user.id}
        )


async def test_emails_are_unique(session: AsyncSession) -> None:
    await create_user(session, email="twice@example.com")
    with pytest.raises(IntegrityError):
        await create_user(session, email="twice@example.com")


async def test_timestamps_come_back_timezone_aware(session: AsyncSession) -> None:
    user = await create_user(session)
    await session.refresh(user)
    assert user.created_at.tzinfo is not None
    assert user.created_at.utcoffset() is not None
