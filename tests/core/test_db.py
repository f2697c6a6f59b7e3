"""The unit of work and the SQLite setup that keeps concurrent writers from failing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import WRITES_OPTION, Database, UnitSession
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


async def test_db02_a_unit_that_reads_then_writes_survives_a_writer_committing_between(
    tmp_path: Path,
) -> None:
    """A request reads (a deferred SQLite transaction), another writer commits, then the
    request writes: upgrading the stale read snapshot fails "database is locked" at once. The
    unit must take its write lock in a fresh transaction instead, whatever the route declared."""
    database = await _counter_database(tmp_path / "upgrade.db")
    try:
        async with database.unit_of_work(write=False) as reader:
            await reader.execute(text("SELECT n FROM counter WHERE id = 1"))
            async with database.unit_of_work(write=False) as other:
                await other.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
            await reader.execute(text("UPDATE counter SET n = n + 10 WHERE id = 1"))
        async with database.unit_of_work(write=False) as session:
            total = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
        assert total == 11
    finally:
        await database.dispose()


async def test_db02_orm_flush_after_reads_takes_the_write_lock_freshly(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'orm.db'}")
    try:
        async with database.unit_of_work() as session:
            await session.run_sync(lambda s: User.metadata.tables["users"].create(s.connection()))
        async with database.unit_of_work(write=False) as reader:
            await reader.execute(text("SELECT count(*) FROM users"))
            async with database.unit_of_work(write=False) as other:
                other.add(User(email="first@example.com", name="First"))
            reader.add(User(email="second@example.com", name="Second"))
        async with database.unit_of_work(write=False) as session:
            count = (await session.execute(text("SELECT count(*) FROM users"))).scalar_one()
        assert count == 2
    finally:
        await database.dispose()


async def test_a_select_marked_as_writing_takes_the_write_lock(tmp_path: Path) -> None:
    """A SELECT over data-modifying CTEs (PostgreSQL) writes: marked, it takes the write lock
    like an INSERT would; an unmarked read does not."""
    database = await _counter_database(tmp_path / "marked.db")
    try:
        async with database.unit_of_work(write=False) as session:
            assert isinstance(session, UnitSession)
            await session.execute(text("SELECT n FROM counter"))
            assert not session.is_writing
            marked = text("SELECT n FROM counter").execution_options(**{WRITES_OPTION: True})
            await session.execute(marked)
            assert session.is_writing
    finally:
        await database.dispose()


async def test_db01_a_reading_unit_holds_no_lock_that_blocks_a_writer(tmp_path: Path) -> None:
    """While a request waits on something slow after its reads (or before any), writers go on:
    the other unit commits while the first is still open."""
    database = await _counter_database(tmp_path / "reader.db")
    try:
        async with database.unit_of_work(write=False) as reader:
            await reader.execute(text("SELECT n FROM counter WHERE id = 1"))
            await asyncio.wait_for(_write_once(database), timeout=5)
    finally:
        await database.dispose()


async def _write_once(database: Database) -> None:
    async with database.unit_of_work(write=False) as session:
        await session.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
