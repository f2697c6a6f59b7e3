"""Engine, sessions and the unit of work: the only place that commits.

One `Database` per process, built in the lifespan. Request handlers get a session through
`get_session` (committed once the handler succeeds); jobs and other background work open
their own `unit_of_work()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from app.core.background import AfterCommit, BackgroundTasks

SQLITE_BUSY_TIMEOUT_MS = 15_000
_AFTER_COMMIT_KEY = "hairtryon_after_commit"
# Execution option the unit of work sets on a connection about to write; on SQLite it turns
# the transaction's BEGIN into BEGIN IMMEDIATE so concurrent writers queue on the busy
# timeout instead of failing with "database is locked" when they upgrade a read lock.
IMMEDIATE_OPTION = "hairtryon_begin_immediate"


def normalise_database_url(raw: str) -> URL:
    """Accept the URLs operators write (`postgresql://`, `postgres://`, `sqlite:///`)
    and return the async driver's form."""
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw.removeprefix("postgres://")
    url = make_url(raw)
    if url.drivername in {"postgresql", "postgresql+psycopg2", "postgresql+psycopg"}:
        url = url.set(drivername="postgresql+asyncpg")
    elif url.drivername in {"sqlite", "sqlite+pysqlite"}:
        url = url.set(drivername="sqlite+aiosqlite")
    return url


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def create_engine(raw_url: str, **kwargs: Any) -> AsyncEngine:
    url = normalise_database_url(raw_url)
    if not is_sqlite(url):
        return _create_async_engine(url, pool_pre_ping=True, **kwargs)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
    )
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_sessionmaker(bind: AsyncEngine | AsyncConnection) -> async_sessionmaker[AsyncSession]:
    extra: dict[str, Any] = {}
    if isinstance(bind, AsyncConnection):
        # Tests bind to a connection inside an outer transaction; our commit becomes a
        # savepoint release and the test's rollback undoes everything.
        extra["join_transaction_mode"] = "create_savepoint"
    return async_sessionmaker(bind=bind, expire_on_commit=False, autoflush=False, **extra)


def after_commit(session: AsyncSession, job: AfterCommit) -> None:
    """Run `job` in the background once this session's unit of work has committed; dropped if
    it rolls back. Emails and queued jobs go through here so nothing is announced that did not
    happen."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(job)


class Database:
    """Owns the engine and hands out units of work."""

    def __init__(
        self, bind: AsyncEngine | AsyncConnection, background: BackgroundTasks | None = None
    ) -> None:
        self.bind = bind
        self.sessionmaker = make_sessionmaker(bind)
        self.background = background or BackgroundTasks()
        # One connection runs one transaction at a time: units of work on a connection-bound
        # database (the tests') take turns instead of interleaving their savepoints.
        self._turns = asyncio.Lock() if isinstance(bind, AsyncConnection) else None

    @classmethod
    def from_url(cls, raw_url: str, **engine_kwargs: Any) -> Database:
        return cls(create_engine(raw_url, **engine_kwargs))

    @property
    def is_sqlite(self) -> bool:
        return self.bind.dialect.name == "sqlite"

    @asynccontextmanager
    async def unit_of_work(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session committed on success and rolled back on any error."""
        if self._turns is None:
            async with self._session(write=write) as session:
                yield session
            return
        async with self._turns, self._session(write=write) as session:
            yield session

    @asynccontextmanager
    async def _session(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            if write:
                await session.connection(execution_options={IMMEDIATE_OPTION: True})
            try:
                yield session
                await session.commit()
            except BaseException as exc:
                if getattr(exc, "persist_changes", False):
                    # A domain error that must keep its writes (a failed code attempt counts).
                    await session.commit()
                else:
                    await session.rollback()
                    session.info.pop(_AFTER_COMMIT_KEY, None)
                raise
            for job in session.info.pop(_AFTER_COMMIT_KEY, []):
                self.background.spawn(job, name="after-commit")

    async def ping(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if isinstance(self.bind, AsyncEngine):
            await self.bind.dispose()
