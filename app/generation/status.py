"""The status poll, `GET /image/status/{id}`: the hottest path (the web app polls every 3 s for
every running job, in every tab), so it is built to cost one database round trip.

Built once per process (`Resources.status_reader`) with its statements; per poll it takes an
autocommit read connection (no BEGIN/COMMIT), runs one indexed read that also proves the
session is live (the revocation check folded into the query; no user row), gives the connection
back, and only then builds the answer (signed file URLs when the image has files). On
PostgreSQL the connection is a plain asyncpg one from the poll's own small pool
(`Database.driver_read()`, DATABASE_STATUS_POOL_SIZE) and the statement is compiled for it once:
SQLAlchemy's checkout, events and result wrapper cost as much as the query itself. SQLite reads
through SQLAlchemy (`Database.read()`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Response

from app.core.db import Database
from app.core.errors import NotAuthenticated
from app.files.exceptions import ImageNotFound
from app.generation.repository import StatusQueries
from app.generation.schemas import JobError, StatusRead
from app.integrations.storage import Storage


class StatusReader:
    def __init__(self, database: Database, storage: Storage) -> None:
        self.database = database
        self.storage = storage
        self.queries = StatusQueries(None if database.is_sqlite else database.bind.dialect)

    async def status(self, image_id: int, user_id: int, session_id: str) -> StatusRead:
        now = datetime.now(UTC)
        if self.queries.on_driver:
            async with self.database.driver_read() as driver:
                row = await self.queries.driver_image(driver, image_id, session_id, now)
                if row is None:
                    live = await self.queries.driver_session_is_live(
                        driver, session_id, user_id, now
                    )
                    raise ImageNotFound() if live else NotAuthenticated()
            return await self._answer(row)
        async with self.database.read() as connection:
            row = await self.queries.image(connection, image_id, session_id, now)
            if row is None:
                live = await self.queries.session_is_live(connection, session_id, user_id, now)
                raise ImageNotFound() if live else NotAuthenticated()
        return await self._answer(row)

    async def _answer(self, row: Sequence[Any]) -> StatusRead:
        (
            image_id,
            status,
            views_status,
            description,
            output_key,
            right_key,
            left_key,
            back_key,
            error_code,
            error_message,
        ) = row
        return StatusRead(
            id=image_id,
            status=status,
            views_status=views_status,
            description=description,
            output_image_url=await self._url(output_key),
            right_view_url=await self._url(right_key),
            left_view_url=await self._url(left_key),
            back_view_url=await self._url(back_key),
            error=JobError(code=error_code, message=error_message or "") if error_code else None,
        )

    async def _url(self, key: str | None) -> str | None:
        return await self.storage.url_for(key) if key else None


_NO_STORE = {"Cache-Control": "no-store"}


def status_response(answer: StatusRead) -> Response:
    """Serialised once, here: the route's declared response_model documents it, and FastAPI does
    not validate and encode the model a second time."""
    return Response(answer.model_dump_json(), media_type="application/json", headers=_NO_STORE)
