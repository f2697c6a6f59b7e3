"""Engine, sessions and the unit of work: the only place that commits.

One `Database` per process, built in the lifespan. Request handlers get a session through
`get_session` (committed once the handler succeeds); jobs and other background work open
their own `unit_of_work()`.

A unit of work holds the database only for what it does with it. It opens no connection until
its first statement; reads run in a plain transaction that blocks no writer; the write lock
(`BEGIN IMMEDIATE` on SQLite) is taken just before the first write, `SELECT ... FOR UPDATE` or
flush — the read phase is committed first, so SQLite never has to upgrade a stale read
snapshot ("database is locked") and no route has to declare that it writes. Before slow work
(a request body, a provider call, an image decode) code calls `release(session)` or
`checkpoint(session)` so nothing is held meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import TextClause, event, exc, text
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from app.core.background import AfterCommit, BackgroundTasks

SQLITE_BUSY_TIMEOUT_MS = 15_000
_AFTER_COMMIT_KEY = "hairtryon_after_commit"
# Execution option the unit of work sets on a connection about to write; on SQLite it turns
# the transaction's BEGIN into BEGIN IMMEDIATE so concurrent writers queue on the busy
# timeout instead of failing with "database is locked" when they upgrade a read lock.
IMMEDIATE_OPTION = "hairtryon_begin_immediate"
# session.info keys: the transaction that holds the write lock, and how to run after-commit
# jobs at a checkpoint.
# Execution option of the units of work's engine: on SQLite their BEGIN is deferred to the
# first write (see _take_write_lock).
LAZY_BEGIN_OPTION = "hairtryon_lazy_begin"
_WRITING_KEY = "hairtryon_writing_transaction"
_SPAWN_KEY = "hairtryon_spawn_after_commit"
_TEXT_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
# Execution option of a statement that writes without being an INSERT, UPDATE or DELETE at its
# top: a SELECT over data-modifying CTEs (PostgreSQL), which takes the write lock like them.
WRITES_OPTION = "hairtryon_writes"


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A core statement compiled once for `Database.driver_read()`: asyncpg's SQL (`$1`, `$2`
    ... placeholders) and the bound parameters' names in their order. The statement stays the
    one definition; asyncpg prepares it once per connection (its statement cache)."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def compile(cls, statement: ClauseElement, dialect: Dialect) -> DriverStatement:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        return cls(str(compiled), tuple(compiled.positiontup or ()))

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The values in placeholder order; as given, without SQLAlchemy's bind processing, so
        callers pass what the driver takes (aware UTC datetimes for UTC columns)."""
        return [params[name] for name in self.names]


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


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """The connection pool of a server database (PostgreSQL): DATABASE_POOL_SIZE,
    DATABASE_MAX_OVERFLOW, DATABASE_PRE_PING_IDLE_S."""

    # Connections kept open per process. Requests hold one only for their statements, so a
    # handful serves many concurrent requests; a pool too small for the load instead opened and
    # closed "overflow" connections on every burst (a TCP + auth handshake each, ~9 % of a
    # status poll's time under load), which is why the overflow defaults to none.
    size: int = 15
    max_overflow: int = 0
    # A connection is checked with a ping before use only when it sat idle this long (the
    # server or a proxy may have dropped it meanwhile); a busy pool's connections are fresh,
    # and pinging each checkout cost every request one more round trip.
    pre_ping_idle_s: float = 30.0
    # Connections of the driver pool behind `Database.driver_read()` (the status poll's), on top
    # of `size`; opened on demand, so a process that never polls (a job worker) opens none.
    driver_size: int = 5


def create_engine(
    raw_url: str,
    *,
    sqlite_foreign_keys: bool = True,
    pool: PoolSettings | None = None,
    **kwargs: Any,
) -> AsyncEngine:
    """`sqlite_foreign_keys=False` is for migrations only: SQLite rebuilds a table to alter it,
    and dropping the old copy with foreign keys on would cascade into its children."""
    url = normalise_database_url(raw_url)
    if not is_sqlite(url):
        pool = pool or PoolSettings()
        engine = _create_async_engine(
            url, pool_size=pool.size, max_overflow=pool.max_overflow, **kwargs
        )
        _ping_after_idle(engine, pool.pre_ping_idle_s)
        return engine
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
    )
    _configure_sqlite(engine, foreign_keys=sqlite_foreign_keys)
    return engine


_IDLE_SINCE_KEY = "hairtryon_idle_since"


def _ping_after_idle(engine: AsyncEngine, idle_s: float) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for a connection idle longer than `idle_s`."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE_KEY] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE_KEY)
        if idle_since is None or time.monotonic() - idle_since < idle_s:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out (or opens) another.
            raise exc.DisconnectionError() from error


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "savepoint")
    def _on_savepoint(connection: Any, _name: str) -> None:
        # A savepoint guards a write; outside a transaction SQLite would make it the outermost
        # (deferred) transaction and commit everything at its RELEASE.
        lazy = connection.get_execution_options().get(LAZY_BEGIN_OPTION, False)
        if lazy and not _sqlite_in_transaction(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(LAZY_BEGIN_OPTION, False):
            return  # units of work: reads autocommit until _take_write_lock
        immediate = options.get(IMMEDIATE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class UnitSyncSession(Session):
    """The synchronous session behind `UnitSession`; its execute hook takes the write lock."""


def _is_writing(session: Session) -> bool:
    current = session.get_transaction()
    return current is not None and session.info.get(_WRITING_KEY) is current


def _take_write_lock(session: Session) -> None:
    """Begin writing in this unit's transaction. On SQLite the read phase ran in autocommit
    (no snapshot to go stale), so this is where `BEGIN IMMEDIATE` queues for the lock; on
    PostgreSQL the open transaction simply goes on."""
    if _is_writing(session):
        return
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not _sqlite_in_transaction(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    session.info[_WRITING_KEY] = session.get_transaction()


def _sqlite_in_transaction(connection: Connection) -> bool:
    dbapi_connection: Any = connection.connection.dbapi_connection
    # aiosqlite's adapter wraps an aiosqlite.Connection; both expose sqlite3's in_transaction.
    inner = getattr(dbapi_connection, "_connection", dbapi_connection)
    return bool(inner.in_transaction)


def _writes(state: ORMExecuteState) -> bool:
    if state.is_insert or state.is_update or state.is_delete:
        return True
    if state.execution_options.get(WRITES_OPTION, False):
        return True
    statement = state.statement
    if isinstance(statement, TextClause):
        return statement.text.lstrip()[:7].upper().startswith(_TEXT_WRITES)
    # A locking read belongs to the write that follows it; on SQLite FOR UPDATE compiles to
    # nothing, so taking the write lock here is what makes the read-check-write atomic.
    return getattr(statement, "_for_update_arg", None) is not None


@event.listens_for(UnitSyncSession, "do_orm_execute")
def _before_execute(state: ORMExecuteState) -> None:
    if _writes(state):
        _take_write_lock(state.session)


class UnitSession(AsyncSession):
    """An AsyncSession that takes the write lock at its first write (see the module doc)."""

    sync_session_class = UnitSyncSession

    @property
    def is_writing(self) -> bool:
        return _is_writing(self.sync_session)

    async def begin_write(self) -> None:
        if not self.is_writing:
            await self.run_sync(_take_write_lock)

    async def flush(self, objects: Any = None) -> None:
        if not self.sync_session._is_clean():
            await self.begin_write()
        await super().flush(objects)

    async def commit(self) -> None:
        if not self.sync_session._is_clean():
            await self.begin_write()
        await super().commit()


async def release(session: AsyncSession) -> None:
    """End the read phase and give the connection back before slow work (a body upload, a
    provider call, a decode). Nothing may have been written yet: a unit that has writes to
    keep uses `checkpoint()`."""
    unit = _unit(session)
    if unit.is_writing or not unit.sync_session._is_clean():
        raise RuntimeError("release() after a write; use checkpoint() to keep the writes")
    if unit.in_transaction():
        await AsyncSession.commit(unit)


async def checkpoint(session: AsyncSession) -> None:
    """Commit what this unit of work has done so far and give the connection back, before slow
    work whose outcome the next writes depend on. The work so far must stand on its own (a
    remembered face check, a pending row that the next phase completes); after-commit jobs
    registered so far start now."""
    unit = _unit(session)
    await unit.commit()
    spawn = unit.info.get(_SPAWN_KEY)
    jobs = unit.info.pop(_AFTER_COMMIT_KEY, [])
    if spawn is not None:
        for job in jobs:
            spawn(job)


def _unit(session: AsyncSession) -> UnitSession:
    if not isinstance(session, UnitSession):
        raise TypeError("expected a unit-of-work session")
    return session


def make_sessionmaker(bind: AsyncEngine | AsyncConnection) -> async_sessionmaker[UnitSession]:
    extra: dict[str, Any] = {}
    if isinstance(bind, AsyncConnection):
        # Tests bind to a connection inside an outer transaction; our commit becomes a
        # savepoint release and the test's rollback undoes everything.
        extra["join_transaction_mode"] = "create_savepoint"
    return async_sessionmaker(
        bind=bind, class_=UnitSession, expire_on_commit=False, autoflush=False, **extra
    )


def after_commit(session: AsyncSession, job: AfterCommit) -> None:
    """Run `job` in the background once this session's unit of work has committed; dropped if
    it rolls back. Emails and queued jobs go through here so nothing is announced that did not
    happen."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(job)


def _autocommit(engine: AsyncEngine) -> AsyncEngine:
    if engine.dialect.name == "sqlite":
        # Our BEGIN listener leaves these connections in the driver's autocommit (no BEGIN).
        return engine.execution_options(**{LAZY_BEGIN_OPTION: True})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class Database:
    """Owns the engine and hands out units of work (and single autocommit reads)."""

    def __init__(
        self,
        bind: AsyncEngine | AsyncConnection,
        background: BackgroundTasks | None = None,
        *,
        pool: PoolSettings | None = None,
    ) -> None:
        """`pool` sizes the driver pool behind `driver_read()` (the engine's own pool is the
        engine's)."""
        self.bind = bind
        self.sessionmaker = make_sessionmaker(
            bind.execution_options(**{LAZY_BEGIN_OPTION: True})
            if isinstance(bind, AsyncEngine)
            else bind
        )
        self.background = background or BackgroundTasks()
        # One connection runs one transaction at a time: units of work on a connection-bound
        # database (the tests') take turns instead of interleaving their savepoints.
        self._turns = asyncio.Lock() if isinstance(bind, AsyncConnection) else None
        self._reader = _autocommit(bind) if isinstance(bind, AsyncEngine) else None
        self._pool_settings = pool or PoolSettings()
        self._driver_pool: Any = None  # asyncpg.Pool, opened at the first driver_read()
        self._driver_pool_opening = asyncio.Lock()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one read outside any transaction (autocommit): the statement is the
        only round trip, no BEGIN/COMMIT around it, and the connection goes back to the pool at
        once. For single-statement reads on hot paths; reads that must agree with each other or
        with writes use a unit of work."""
        if self._reader is None:
            # Tests' connection-bound database: the shared connection, in turn with the units.
            assert isinstance(self.bind, AsyncConnection)
            assert self._turns is not None
            async with self._turns:
                yield self.bind
            return
        async with self._reader.connect() as connection:
            yield connection

    @asynccontextmanager
    async def driver_read(self) -> AsyncIterator[Any]:
        """PostgreSQL only: an asyncpg connection for one read-only statement outside any
        transaction, without SQLAlchemy in between (no pool events, no greenlet, no result
        wrapper): for the hottest reads (the status poll's), whose statements are compiled
        once by their caller. The connection comes from a small asyncpg pool of the database's
        own (`PoolSettings.driver_size` connections, opened on demand, closed once idle for
        `pre_ping_idle_s`). Its connections only ever run such reads, so nothing is reset between
        uses: asyncpg still rolls back a transaction left open, and the reset query's round
        trip is saved. A pool size of 0 takes the connection of `read()` instead; the tests'
        connection-bound database gives its own connection, in turn with the units of work,
        so the read sees their uncommitted rows."""
        if self.is_sqlite:
            raise RuntimeError("driver_read() is for PostgreSQL; SQLite reads use read()")
        if self._reader is None or self._pool_settings.driver_size == 0:
            async with self.read() as connection:
                raw = await connection.get_raw_connection()
                yield raw.driver_connection
            return
        pool = self._driver_pool or await self._open_driver_pool()
        async with pool.acquire() as connection:
            yield connection

    async def _open_driver_pool(self) -> Any:
        async with self._driver_pool_opening:
            if self._driver_pool is None:
                import asyncpg  # type: ignore[import-untyped]

                assert isinstance(self.bind, AsyncEngine)
                settings = self._pool_settings
                self._driver_pool = await asyncpg.create_pool(
                    **_driver_connect_kwargs(self.bind),
                    min_size=0,
                    max_size=settings.driver_size,
                    # Closed once idle as long as the engine's connections are pinged after:
                    # a connection a proxy or the server may have dropped meanwhile is never
                    # used (asyncpg has no ping on acquire; 0 would mean never closed).
                    max_inactive_connection_lifetime=max(settings.pre_ping_idle_s, 1.0),
                    reset=_keep_session,
                )
            return self._driver_pool

    @classmethod
    def from_url(cls, raw_url: str, **engine_kwargs: Any) -> Database:
        return cls(create_engine(raw_url, **engine_kwargs), pool=engine_kwargs.get("pool"))

    @property
    def is_sqlite(self) -> bool:
        return self.bind.dialect.name == "sqlite"

    @asynccontextmanager
    async def unit_of_work(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session committed on success and rolled back on any error.

        `write=True` takes the write lock at once, for background work whose reads must be
        serialised with its writes; `write=False` (requests) takes it at the first write."""
        if self._turns is None:
            async with self._session(write=write) as session:
                yield session
            return
        async with self._turns, self._session(write=write) as session:
            yield session

    @asynccontextmanager
    async def _session(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            session.info[_SPAWN_KEY] = self._spawn_after_commit
            if write:
                await session.begin_write()
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
                self._spawn_after_commit(job)

    def _spawn_after_commit(self, job: AfterCommit) -> None:
        self.background.spawn(job, name="after-commit")

    async def ping(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        pool, self._driver_pool = self._driver_pool, None
        if pool is not None:
            await pool.close()
        if isinstance(self.bind, AsyncEngine):
            await self.bind.dispose()


# SQLAlchemy's own connect arguments, which asyncpg does not take.
_SQLALCHEMY_CONNECT_ARGS = ("prepared_statement_cache_size", "prepared_statement_name_func")


def _driver_connect_kwargs(engine: AsyncEngine) -> dict[str, Any]:
    """asyncpg's connect arguments for the engine's URL, as the engine's dialect derives them
    (host, port, user, password, database and the URL's query options)."""
    _args, kwargs = engine.dialect.create_connect_args(engine.url)
    for name in _SQLALCHEMY_CONNECT_ARGS:
        kwargs.pop(name, None)
    return dict(kwargs)


async def _keep_session(_connection: Any) -> None:
    """The driver pool's reset: its connections only run single read-only statements, so
    there is no session state (settings, listeners, advisory locks) to reset."""
