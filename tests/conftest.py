"""Test infrastructure: one migrated database per run, each test in a rolled-back transaction,
the real ASGI app over httpx, and the real server process for end-to-end tests.

`HAIRTRYON_TEST_DB=postgresql` (set by `make test` when `TEST_DATABASE_URL` is given) runs the
suite against PostgreSQL, in a database of its own that it creates on that URL's server and drops
at the end; otherwise against a SQLite file in a temporary directory. Tests that need Redis get a
`redis-server` the suite starts itself (tests/redis_server.py). Nothing shared is ever wiped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.core.config import PROJECT_ROOT, Settings
from app.core.db import IMMEDIATE_OPTION, Database, create_engine
from app.main import create_app
from app.resources import Resources
from tests.auth.flows import Mail
from tests.databases import own_postgres_database
from tests.generation.queue import RecordingQueue
from tests.live_server import LiveServer, server_env, start_live_server
from tests.redis_server import RedisServer, start_redis_server

BACKEND = os.environ.get("HAIRTRYON_TEST_DB", "sqlite")
FRONTEND_ORIGIN = "http://localhost:5173"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "postgresql":
        return
    skip = pytest.mark.skip(reason="PostgreSQL-only promise; runs in the PostgreSQL pass")
    for item in items:
        if "pg_only" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    return f"hairtryon test database: {BACKEND}"


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


async def run_alembic(database_url: str, *revisions: str) -> None:
    """Alembic's env runs its own event loop; keep it off ours."""
    config = alembic_config(database_url)

    def _run() -> None:
        for revision in revisions:
            if revision == "base":
                command.downgrade(config, "base")
            else:
                command.upgrade(config, revision)

    await asyncio.to_thread(_run)


def postgres_server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        raise pytest.UsageError("HAIRTRYON_TEST_DB=postgresql needs TEST_DATABASE_URL")
    return url


@contextlib.asynccontextmanager
async def migrated_database(
    tmp_path_factory: pytest.TempPathFactory, purpose: str = ""
) -> AsyncIterator[str]:
    """A new database at head: on PostgreSQL a new `hairtryon_test_<pid>_<hex>` (dropped on
    the way out), on SQLite a new file."""
    if BACKEND == "postgresql":
        async with own_postgres_database(postgres_server_url(), purpose) as url:
            await run_alembic(url, "head")
            yield url
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp(purpose or 'db') / 'test.db'}"
        await run_alembic(url, "head")
        yield url


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A migrated database of this run's own (dropped at the end, after the engine and the
    live servers that use it have stopped)."""
    async with migrated_database(tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Everything a test writes happens inside this transaction and is rolled back."""
    async with engine.connect() as connection:
        # On SQLite the test's transaction takes the write lock at once (BEGIN IMMEDIATE): a
        # deferred BEGIN read a snapshot first, and a commit by anything else meanwhile made
        # the test's first write fail at once with "database is locked" instead of waiting.
        connection = await connection.execution_options(**{IMMEDIATE_OPTION: True})
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            if transaction.is_active:
                await transaction.rollback()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        ENV="dev",
        DATABASE_URL=database_url,
        MAIL_DIR=tmp_path / "mail",
        MEDIA_DIR=tmp_path / "media",
        RATE_LIMIT_ENABLED=False,
    )


@pytest.fixture
async def resources(settings: Settings, connection: AsyncConnection) -> AsyncIterator[Resources]:
    built = build_test_resources(settings, Database(connection))
    yield built
    # Work the test's requests left running (an upload's photo check, an email) uses the
    # test's connection, whichever app started it: it ends before that transaction rolls back.
    await built.database.background.drain()


def build_test_resources(settings: Settings, database: Database) -> Resources:
    """Resources for a test app: jobs run when the test says so (RecordingQueue), on the
    test's transaction, and no sweeper, payment reconciler or retention purge runs in the
    background."""
    resources = Resources.build(settings, database=database)
    resources.job_queue = RecordingQueue()
    resources.background_jobs = False
    resources.reconcile_payments = False
    resources.purge_retention = False
    return resources


@pytest.fixture
def resources_database(resources: Resources) -> Database:
    return resources.database


@pytest.fixture
async def session(resources: Resources) -> AsyncIterator[AsyncSession]:
    """A session on the test's transaction, for factories and assertions."""
    async with resources.database.sessionmaker() as session:
        yield session


@pytest.fixture
async def app(settings: Settings, resources: Resources) -> AsyncIterator[FastAPI]:
    """The real app, its lifespan running, on the test's transaction."""
    app = create_app(settings, resources=resources)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client like the web app: same-site Origin header, cookies kept between requests."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND_ORIGIN}
    ) as client:
        yield client


@pytest.fixture
def mail(settings: Settings, resources: Resources) -> Mail:
    """The local mailbox the app writes to, waiting for after-commit sends first."""
    return Mail(settings.MAIL_DIR, resources.database.background)


@pytest.fixture(scope="session")
async def live_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """The real server process (run.py) on a free loopback port, sharing the test database."""
    workdir = tmp_path_factory.mktemp("live")
    server = await start_live_server(
        server_env(database_url, workdir),
        workdir,
    )
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """This run's own Redis (skips the test when `redis-server` is not installed)."""
    server = start_redis_server(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """Database 0 of this run's own Redis, emptied for the test."""
    redis_server.flush()
    return redis_server.url(0)
