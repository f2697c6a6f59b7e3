"""The OAuth-state session middleware runs only under its path (issue 14: no session-cookie work
on the other requests)."""

from __future__ import annotations

from functools import partial

import httpx
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Receive, Scope, Send

from app.core.path_scoped import PathScopedMiddleware


async def _reports_session(scope: Scope, receive: Receive, send: Send) -> None:
    body = b"session" if "session" in scope else b"none"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _client() -> httpx.AsyncClient:
    app = PathScopedMiddleware(
        _reports_session,
        prefix="/api/v1/auth/google",
        wrap=partial(SessionMiddleware, secret_key="k" * 32, session_cookie="hairtryon_oauth"),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_the_session_middleware_runs_under_its_prefix() -> None:
    async with _client() as client:
        assert (await client.get("/api/v1/auth/google")).text == "session"
        assert (await client.get("/api/v1/auth/google/callback")).text == "session"


async def test_other_paths_skip_the_session_middleware_even_with_its_cookie() -> None:
    async with _client() as client:
        cookie = {"Cookie": "hairtryon_oauth=anything"}
        assert (await client.get("/api/v1/image/status/1", headers=cookie)).text == "none"
        assert (await client.get("/api/v1/auth/googlefoo")).text == "none"
