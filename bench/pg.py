"""A fresh PostgreSQL database per bench run, migrated to head and dropped afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped]
import psutil

from tests.conftest import run_alembic

# The server the bench creates its database on (trust auth on this machine).
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _drop_orphans(admin: asyncpg.Connection) -> None:
    """Databases of earlier runs whose process is gone (killed before it could drop them)."""
    rows = await admin.fetch(
        "SELECT datname FROM pg_database WHERE datname LIKE 'hairtryon_bench_%'"
    )
    for row in rows:
        pid = row["datname"].split("_")[2]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """Yield the URL of a new, migrated database; drop it on the way out."""
    name = f"hairtryon_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await _drop_orphans(admin)
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = _with_database(ADMIN_URL, name)
    try:
        await run_alembic(url, "head")
        yield url
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
