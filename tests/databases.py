"""PostgreSQL databases the suite owns: created with a unique name on TEST_DATABASE_URL's server
and dropped at the end. The database named in TEST_DATABASE_URL is only the door in (it must
exist); the suite never changes or drops anything in it, so two runs on one machine, or a run
next to a developer's own data, cannot collide."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.core.db import create_engine

NAME_PREFIX = "hairtryon_test_"


def unique_database_name(purpose: str = "") -> str:
    """`hairtryon_test_<pid>_<random>`: the pid says which run made it, the random part keeps
    two databases of one run (or a reused pid) apart."""
    return f"{NAME_PREFIX}{purpose}{os.getpid()}_{secrets.token_hex(4)}"


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@asynccontextmanager
async def own_postgres_database(server_url: str, purpose: str = "") -> AsyncIterator[str]:
    """Create an empty database on `server_url`'s server, yield its URL, then drop it, closing
    whatever connections are still open (a live server that did not stop, a leaked pool)."""
    name = unique_database_name(purpose)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield _with_database(server_url, name)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
