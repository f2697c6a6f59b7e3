"""Every dependency of the auth routes is `async def`: FastAPI runs a plain `def` dependency in
the thread pool, and under load each such hop waits twice for a busy event loop (to leave and
to come back). Five of them made a login wait about ten turns of the loop before its handler
started (bench/README.md, "Login interference")."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.auth.google_router import router as google_router
from app.auth.router import router


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield from _calls(sub)
        yield sub.call


def _runs_on_the_loop(call: object) -> bool:
    # Security schemes (OAuth2PasswordBearer) are instances with an async __call__.
    target = call if inspect.isfunction(call) else getattr(call, "__call__", call)  # noqa: B004
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def test_auth_dependencies_never_hop_to_the_thread_pool() -> None:
    routes = [r for r in (*router.routes, *google_router.routes) if isinstance(r, APIRoute)]
    assert any(route.path == "/auth/login" for route in routes)
    sync = sorted(
        {
            f"{route.path}: {getattr(call, '__qualname__', call)}"
            for route in routes
            for call in _calls(route.dependant)
            if not _runs_on_the_loop(call)
        }
    )
    assert sync == []


def test_the_check_sees_a_plain_def_dependency() -> None:
    """Control: the check above does name a synchronous dependency."""

    def plain() -> None: ...

    async def coroutine() -> None: ...

    assert not _runs_on_the_loop(plain)
    assert _runs_on_the_loop(coroutine)
