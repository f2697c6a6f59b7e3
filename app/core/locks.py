"""One process of the deployment at a time: a named lock across processes, for periodic work
that every API and worker process starts but only one should do.

PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) held on a dedicated
connection for as long as the work runs, in autocommit so the connection never sits idle in a
transaction. The connection is closed afterwards rather than returned to the pool: a lock left
on a pooled connection (an unlock that failed) would otherwise follow it to its next user.
PostgreSQL releases the lock by itself if the process dies.

SQLite: the embedded default is one process, so the lock is always free.

Not a correctness device: the work it guards must still be idempotent (it is taken with "try",
and a process can pause past anyone's expectations). It only keeps N processes from doing the
same provider calls N times.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.db import Database

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (advisory locks are keyed by bigint)."""
    digest = hashlib.sha256(f"hairtryon:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def held_alone(database: Database, name: str) -> AsyncIterator[bool]:
    """Yields True while this process holds the lock `name`, False when another one does
    (then do nothing this time)."""
    if database.is_sqlite:
        yield True
        return
    key = lock_key(name)
    if isinstance(database.bind, AsyncConnection):
        # A database bound to one connection (the tests'): its units of work take turns on
        # that connection, and a session-level lock outlives their savepoints.
        async with database.unit_of_work(write=False) as session:
            acquired = bool(await session.scalar(_TRY_LOCK, {"key": key}))
        try:
            yield acquired
        finally:
            if acquired:
                async with database.unit_of_work(write=False) as session:
                    await session.execute(_UNLOCK, {"key": key})
        return
    connection = await database.bind.connect()
    try:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        acquired = bool(await connection.scalar(_TRY_LOCK, {"key": key}))
        try:
            yield acquired
        finally:
            if acquired:
                await connection.execute(_UNLOCK, {"key": key})
    finally:
        # Closed, not pooled (see the module docstring).
        await connection.invalidate()
        await connection.close()
