"""`Database.read()` (one statement, no transaction around it) and the pool's ping after idle:
the status poll's database costs (issue 14). Run on SQLite and, with HAIRTRYON_TEST_DB, on
PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.db import Database, PoolSettings, normalise_database_url
from tests.conftest import BACKEND


def _in_transaction(driver_connection: Any) -> bool:
    """The driver's own view: asyncpg's is_in_transaction(), sqlite3's in_transaction."""
    checker = getattr(driver_connection, "is_in_transaction", None)
    if checker is not None:
        return bool(checker())
    inner = getattr(driver_connection, "_connection", driver_connection)
    return bool(inner.in_transaction)


async def test_a_read_runs_its_one_statement_outside_any_transaction(database_url: str) -> None:
    database = Database.from_url(database_url)
    statements: list[str] = []
    event.listen(
        database.bind.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_args: statements.append(statement),
    )
    try:
        async with database.read() as connection:
            assert (await connection.execute(text("SELECT 41 + 1"))).scalar_one() == 42
            raw = await connection.get_raw_connection()
            assert not _in_transaction(raw.driver_connection)
        assert statements == ["SELECT 41 + 1"]
    finally:
        await database.dispose()


async def test_a_unit_of_work_read_does_hold_a_transaction_on_postgresql(
    database_url: str,
) -> None:
    """The control: the same read in a unit of work is inside BEGIN ... COMMIT there."""
    if BACKEND != "postgresql":
        pytest.skip("SQLite's units read in autocommit until their first write")
    database = Database.from_url(database_url)
    try:
        async with database.unit_of_work(write=False) as session:
            await session.execute(text("SELECT 1"))
            raw = await (await session.connection()).get_raw_connection()
            assert _in_transaction(raw.driver_connection)
    finally:
        await database.dispose()


async def _backend_pid(database: Database) -> int:
    async with database.read() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(database_url: str, pid: int) -> None:
    url = normalise_database_url(database_url).set(drivername="postgresql")
    admin = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


@pytest.mark.skipif(BACKEND != "postgresql", reason="a server connection to drop")
@pytest.mark.parametrize("idle_s", [0.0, 3600.0], ids=["idle-past-threshold", "fresh"])
async def test_a_pooled_connection_dropped_while_idle_is_replaced_once_idle_long_enough(
    database_url: str, idle_s: float
) -> None:
    """With the idle threshold passed, the checkout pings, finds the connection dead and opens
    another; below it (the control) no ping is spent and the dead connection fails the read."""
    database = Database.from_url(database_url, pool=PoolSettings(size=1, pre_ping_idle_s=idle_s))
    try:
        first = await _backend_pid(database)
        await _terminate(database_url, first)
        if idle_s == 0.0:
            assert await _backend_pid(database) != first
        else:
            with pytest.raises(DBAPIError):
                await _backend_pid(database)
    finally:
        await database.dispose()


async def _pids_alive(database_url: str, pids: set[int]) -> set[int]:
    url = normalise_database_url(database_url).set(drivername="postgresql")
    admin = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        rows = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids)
        )
    finally:
        await admin.close()
    return {int(row["pid"]) for row in rows}


@pytest.mark.skipif(BACKEND != "postgresql", reason="the driver pool is PostgreSQL's")
async def test_driver_reads_run_on_their_own_bounded_pool_outside_any_transaction(
    database_url: str,
) -> None:
    """The status poll's reads: plain asyncpg connections of the database's own pool (none of
    SQLAlchemy's is checked out, no statement goes through its engine), at most `driver_size`
    of them however many reads wait, no transaction around the statement, all closed with the
    database."""
    database = Database.from_url(database_url, pool=PoolSettings(size=1, driver_size=2))
    statements: list[str] = []
    event.listen(
        database.bind.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_args: statements.append(statement),
    )
    pids: set[int] = set()
    two_in, holding = asyncio.Event(), asyncio.Event()

    async def read(index: int) -> None:
        async with database.driver_read() as connection:
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SELECT $1::int + 1", index) == index + 1
            pids.add(int(await connection.fetchval("SELECT pg_backend_pid()")))
            if len(pids) >= 2:
                two_in.set()
            assert database.bind.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            await holding.wait()

    try:
        readers = [asyncio.create_task(read(index)) for index in range(5)]
        await two_in.wait()
        holding.set()
        await asyncio.gather(*readers)
        assert len(pids) == 2, pids
        assert statements == []
    finally:
        await database.dispose()
    assert await _pids_alive(database_url, pids) == set()


@pytest.mark.skipif(BACKEND != "postgresql", reason="the driver pool is PostgreSQL's")
async def test_a_driver_read_without_a_pool_of_its_own_runs_on_the_engines_pool(
    database_url: str,
) -> None:
    """DATABASE_STATUS_POOL_SIZE=0: the read takes a connection of `read()` instead."""
    database = Database.from_url(database_url, pool=PoolSettings(size=1, driver_size=0))
    try:
        async with database.driver_read() as connection:
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SELECT 41 + 1") == 42
            assert database.bind.sync_engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    finally:
        await database.dispose()


@pytest.mark.skipif(BACKEND != "postgresql", reason="the driver pool is PostgreSQL's")
async def test_a_driver_read_on_a_connection_bound_database_sees_its_transaction(
    connection: AsyncConnection,
) -> None:
    """The tests' database: the read runs on the test's own connection, inside its open
    transaction, so a status poll sees the fixture rows nobody committed."""
    database = Database(connection)
    await connection.execute(text("SELECT set_config('hairtryon.probe', 'seen', true)"))
    async with database.driver_read() as driver:
        assert await driver.fetchval("SELECT current_setting('hairtryon.probe', true)") == "seen"


@pytest.mark.skipif(BACKEND != "postgresql", reason="the driver pool is PostgreSQL's")
@pytest.mark.parametrize("idle_s", [1.0, 3600.0], ids=["idle-past-threshold", "fresh"])
async def test_a_driver_connection_idle_past_the_ping_threshold_is_not_used_again(
    database_url: str, idle_s: float
) -> None:
    """asyncpg has no ping on acquire: a driver connection idle as long as the engine's would
    be pinged after is closed instead, so one a proxy dropped silently is never used; below
    the threshold (the control) the same connection serves the next read."""
    database = Database.from_url(
        database_url, pool=PoolSettings(size=1, driver_size=1, pre_ping_idle_s=idle_s)
    )

    async def backend_pid() -> int:
        async with database.driver_read() as connection:
            return int(await connection.fetchval("SELECT pg_backend_pid()"))

    try:
        first = await backend_pid()
        await asyncio.sleep(1.5)
        assert (await backend_pid() != first) is (idle_s == 1.0)
    finally:
        await database.dispose()
