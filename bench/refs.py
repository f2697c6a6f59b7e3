"""The two reference servers the status endpoint is measured against, run under the same
uvicorn settings as ours (`uvicorn --factory bench.refs:r0` / `bench.refs:r1`).

- R0: bare FastAPI answering a JSON hello: the ceiling of the framework on this machine.
- R1: the same status query and response written by hand: PyJWT decodes the access cookie,
  one asyncpg query (a prepared statement on a pooled connection, autocommit) reads the image
  joined to a live session of its owner, the dict is serialised by FastAPI as JSON.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

STATUS_SQL = """
SELECT i.id, i.status, i.views_status, i.description, i.output_key, i.right_view_key,
       i.left_view_key, i.back_view_key, i.error_code, i.error_message
FROM images AS i JOIN auth_sessions AS s ON s.user_id = i.user_id
WHERE i.id = $1 AND s.id = $2 AND s.revoked_at IS NULL AND s.expires_at > now()
"""


def r0() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

    return app


def _url(key: str | None) -> str | None:
    return None if key is None else f"/media/{key}"


def r1() -> FastAPI:
    dsn = os.environ["BENCH_R1_DSN"]
    secret = os.environ["BENCH_R1_SECRET"]
    # 16 per worker is what PostgreSQL on 2 cores can use; idle ones close soon, since the
    # database server is shared with the other scenarios' processes.
    pool_size = int(os.environ.get("BENCH_R1_POOL", "16"))
    pools: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pools["db"] = await asyncpg.create_pool(
            dsn, min_size=1, max_size=pool_size, max_inactive_connection_lifetime=5
        )
        yield
        await pools["db"].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/api/v1/image/status/{image_id}")
    async def status(image_id: int, request: Request) -> Any:
        token = request.cookies.get("access_token")
        if not token:
            return JSONResponse({"code": "NO_COOKIES_FOUND"}, status_code=400)
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return JSONResponse({"code": "NOT_AUTHENTICATED"}, status_code=401)
        if claims.get("typ") != "access":
            return JSONResponse({"code": "NOT_AUTHENTICATED"}, status_code=401)
        row = await pools["db"].fetchrow(STATUS_SQL, image_id, claims["sid"])
        if row is None:
            return JSONResponse({"code": "IMAGE_NOT_FOUND"}, status_code=404)
        return {
            "id": row["id"],
            "status": row["status"],
            "views_status": row["views_status"],
            "description": row["description"],
            "output_image_url": _url(row["output_key"]),
            "right_view_url": _url(row["right_view_key"]),
            "left_view_url": _url(row["left_view_key"]),
            "back_view_url": _url(row["back_view_key"]),
            "error": {"code": row["error_code"], "message": row["error_message"] or ""}
            if row["error_code"]
            else None,
        }

    return app
