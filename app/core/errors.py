"""The error hierarchy and the one error shape of SPEC §0.

Services raise `AppError` subclasses (never `HTTPException`); one handler renders them as
`{"detail": {"code": ..., "message": ...}}`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.request_id import current_request_id
from app.core.security_headers import baseline_headers

logger = logging.getLogger(__name__)


class AppError(Exception):
    """A failure the client can act on. Subclasses fix `status_code`, `code` and a message."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"
    message: ClassVar[str] = "The request could not be processed."
    # True when the unit of work must commit what was written before the error was raised
    # (a failed code attempt must count even though the request fails).
    persist_changes: ClassVar[bool] = False

    def __init__(
        self, message: str | None = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        self.detail_message = message or self.message
        self.headers = dict(headers or {})
        super().__init__(self.detail_message)


class NotFound(AppError):
    status_code = 404
    code = "NOT_FOUND"
    message = "The resource was not found."


class NotAuthenticated(AppError):
    status_code = 401
    code = "NOT_AUTHENTICATED"
    message = "Your session has expired or is invalid."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403
    code = "FORBIDDEN"
    message = "You are not allowed to do this."


class RateLimited(AppError):
    status_code = 429
    code = "RATE_LIMITED"
    message = "Too many requests; try again later."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "The request body is too large."


# Status codes Starlette raises itself (unknown route, wrong method, ...) mapped to codes.
_HTTP_CODES: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "NOT_AUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMITED",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"detail": {"code": code, "message": message, **extra}}


def error_response(
    status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status_code, headers=headers)


def app_error_response(exc: AppError) -> JSONResponse:
    """The answer to an `AppError` (also for handlers that answer before the router)."""
    return error_response(exc.status_code, exc.code, exc.detail_message, exc.headers)


async def _handle_app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return app_error_response(exc)


async def _handle_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    message = exc.detail if isinstance(exc.detail, str) else "The request failed."
    return error_response(exc.status_code, code, message, exc.headers)


# A validation error quotes at most this much of what was sent: a 60 MB body must not come
# back as a 60 MB error (IN-03). Messages and locations are ours but may quote a field name.
INPUT_EXCERPT_CHARS = 64
MESSAGE_CHARS = 200
# Thousands of unknown keys would otherwise list thousands of errors.
MAX_ERRORS = 20
_INT64 = 2**63


def _clip(value: str, limit: int) -> str:
    short = value if len(value) <= limit else value[:limit] + "…"
    # Lone surrogates cannot be encoded as UTF-8: quote them as escapes instead of failing.
    return short.encode("utf-8", "backslashreplace").decode("utf-8")


def _safe_input(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        # 1e400 parses as infinity and Python's parser takes NaN: JSON cannot carry them back.
        return value if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else _clip(str(value), INPUT_EXCERPT_CHARS)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return _clip(value, INPUT_EXCERPT_CHARS)
    # Objects and arrays (a whole body when a field is missing): a short text excerpt.
    return _clip(repr(value), INPUT_EXCERPT_CHARS)


def validation_detail(errors: Any) -> list[dict[str, Any]]:
    """FastAPI's list of errors (SPEC §0), every string short and encodable."""
    detail = []
    for error in list(errors)[:MAX_ERRORS]:
        item: dict[str, Any] = {
            "type": _clip(str(error.get("type", "")), MESSAGE_CHARS),
            "loc": [
                part if isinstance(part, int) else _clip(str(part), INPUT_EXCERPT_CHARS)
                for part in error.get("loc", ())
            ],
            "msg": _clip(str(error.get("msg", "")), MESSAGE_CHARS),
        }
        if "input" in error:
            item["input"] = _safe_input(error["input"])
        ctx = error.get("ctx")
        if isinstance(ctx, dict):
            item["ctx"] = {
                _clip(str(key), INPUT_EXCERPT_CHARS): _safe_input(
                    val if isinstance(val, int | float | bool | None) else str(val)
                )
                for key, val in ctx.items()
            }
        detail.append(item)
    return detail


async def _handle_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Runs in Starlette's outermost middleware, outside ours (whose context is gone by now):
    # read the id from the request state and set the header here.
    request_id = str(getattr(request.state, "request_id", None) or current_request_id())
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = error_body(
        "INTERNAL_ERROR",
        "Something went wrong on our side. Quote the request id if you contact support.",
        request_id=request_id,
    )
    headers = {**baseline_headers(request.url.path), "X-Request-ID": request_id}
    return JSONResponse(body, status_code=500, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _handle_app_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    app.add_exception_handler(Exception, _handle_unexpected)
