"""Fields every log line of the current request or job carries (user id, job, image id).

A request starts with no fields (RequestIdMiddleware opens the scope); code that learns who
or what it works on binds it, and every later line in that task carries it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

_fields: ContextVar[Mapping[str, str] | None] = ContextVar("log_fields", default=None)


def log_fields() -> Mapping[str, str]:
    return _fields.get() or {}


def bind_log_fields(**fields: object) -> None:
    """Add fields until the enclosing `log_scope()` ends (the request or the job)."""
    _fields.set({**log_fields(), **{k: str(v) for k, v in fields.items() if v is not None}})


@contextmanager
def log_scope(**fields: object) -> Iterator[None]:
    """A fresh set of fields for one request or job, dropped when it ends (tests run many
    requests in one task: nothing may leak from one into the next)."""
    token = _fields.set({k: str(v) for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        _fields.reset(token)
