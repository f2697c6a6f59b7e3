"""The status poll served ahead of the router stack (issue 14).

`GET /api/v1/image/status/{id}` is polled every 3 s for every running job in every tab. Through
FastAPI it walks the exception and exit-stack middlewares, the nested included routers' route
matching and the dependency solver, which together cost more GIL time than the poll's own work.
This pure-ASGI layer sits innermost of our middlewares (so request id, security headers, CORS,
body limit, access log and metrics apply exactly as to any route) and answers the canonical
form of the poll itself, with the same building blocks and in the same order as the declared
route: the status budget first (SPEC §8, when rate limits are on), then the access token
(bearer, else cookie), then one read that also proves the session is live. Below the lane the
same steps are lean too: the token is verified with its key prepared once per process
(app/auth/tokens.py), and on PostgreSQL the read runs on a plain asyncpg connection of the
poll's own small pool, with its statement compiled once (app/generation/status.py; SQLite reads
through SQLAlchemy).

The route stays declared in `app/generation/router.py`: it is what /openapi.json documents
(response model, examples, errors), and it answers every request this layer passes on (any
other method, an id in a form other than canonical decimal, which FastAPI validates).
"""

from __future__ import annotations

import re

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import status_rate_limit
from app.auth.dependencies import bearer_scheme, no_credentials, read_access_credentials
from app.auth.sessions import identify
from app.core.errors import AppError, app_error_response
from app.core.rate_limit import client_ip
from app.core.types import INT64_END
from app.generation.status import status_response
from app.resources import Resources

STATUS_PATH = "/api/v1/image/status/"
# Canonical decimal only: "007", "+7" or " 7" go to the declared route, which validates them.
_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")


class StatusLane:
    def __init__(self, app: ASGIApp, *, route: APIRoute) -> None:
        """`route` is the declared status route: set in the scope as the router would (the
        metrics label it by its template; the default budget sees its own budget)."""
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        image_id = _status_poll(scope)
        if image_id is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        scope["endpoint"] = self.route.endpoint
        scope["path_params"] = {"image_id": image_id}
        request = Request(scope, receive)
        try:
            response = await _poll(request, image_id)
        except AppError as exc:
            response = app_error_response(exc)
        await response(scope, receive, send)


def _status_poll(scope: Scope) -> int | None:
    """The image id of a GET of the canonical status path, else None."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path: str = scope["path"]
    if not path.startswith(STATUS_PATH):
        return None
    tail = path[len(STATUS_PATH) :]
    if _CANONICAL_ID.fullmatch(tail) is None:
        return None
    image_id = int(tail)
    return image_id if image_id < INT64_END else None


async def _poll(request: Request, image_id: int) -> Response:
    resources: Resources = request.app.state.resources
    if resources.limiter.enabled:
        await status_rate_limit(request, resources, client_ip(request, resources.trusted_proxies))
    credentials = await read_access_credentials(request, await bearer_scheme(request))
    if credentials is None:
        raise no_credentials(request)
    user_id, session_id = identify(resources.tokens, credentials.token)
    answer = await resources.status_reader.status(image_id, user_id, session_id)
    return status_response(answer)
