"""`X-Request-ID` on every response: echoed when the client sent a sane one, else minted.

Set by the edge middleware (app/core/edge.py) before anything else runs.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token

from starlette.types import Scope

REQUEST_ID_HEADER = "X-Request-ID"
# Client ids end up in logs: accept only short, printable tokens.
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_request_id: ContextVar[str] = ContextVar("request_id", default="-")


def current_request_id() -> str:
    return _request_id.get()


def request_id_of(scope: Scope) -> str:
    """The client's id when it is sane, else a fresh one."""
    incoming = _header(scope, b"x-request-id")
    return incoming if incoming and _ACCEPTABLE_ID.match(incoming) else uuid.uuid4().hex


def bind_request_id(request_id: str) -> Token[str]:
    """Make `request_id` current for the request's task (`_request_id.reset(token)` after)."""
    return _request_id.set(request_id)


def unbind_request_id(token: Token[str]) -> None:
    _request_id.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None
