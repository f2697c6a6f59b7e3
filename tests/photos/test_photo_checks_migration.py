"""Migration 0016 moves `uploads.has_face` into `photo_checks` and back without losing an
answer (version-0 rows: the old flag knew only whether a face was found)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

from alembic import command
from sqlalchemy import text

from app.core.db import create_engine
from tests.conftest import BACKEND, alembic_config, postgres_server_url
from tests.databases import own_postgres_database

UPLOADS = [(1, True), (2, False), (3, None)]


async def _alembic(url: str, action: str, revision: str) -> None:
    config = alembic_config(url)
    await asyncio.to_thread(getattr(command, action), config, revision)


async def _sql(url: str, statement: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(statement))
            return [tuple(row) for row in result.all()] if result.returns_rows else []
    finally:
        await engine.dispose()


async def test_the_has_face_flag_becomes_photo_check_rows_and_comes_back(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        if BACKEND == "postgresql":
            url = await stack.enter_async_context(
                own_postgres_database(postgres_server_url(), "photo_checks_")
            )
        else:
            url = f"sqlite:///{tmp_path / 'photo_checks.db'}"
        await _alembic(url, "upgrade", "0014")
        await _sql(url, "INSERT INTO users (id, email, name) VALUES (1, 'a@example.com', 'Ada')")
        for upload_id, has_face in UPLOADS:
            flag = "NULL" if has_face is None else str(has_face).upper()
            await _sql(
                url,
                "INSERT INTO uploads (id, user_id, key, status, content_type, has_face) "
                f"VALUES ({upload_id}, 1, 'uploads/user_1/{upload_id}.jpg', 'ready', "
                f"'image/jpeg', {flag})",
            )

        await _alembic(url, "upgrade", "0016")
        rows = await _sql(
            url, "SELECT upload_id, version, face_count FROM photo_checks ORDER BY upload_id"
        )
        assert rows == [(1, 0, 1), (2, 0, 0)]

        await _alembic(url, "downgrade", "0014")
        flags = await _sql(url, "SELECT id, has_face FROM uploads ORDER BY id")
        assert [(i, None if f is None else bool(f)) for i, f in flags] == UPLOADS
