"""OpenAPI helpers: deterministic operation ids, and `responses=` built from error codes."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel

# SPEC §0: every error code and the status it is sent with.
ERROR_STATUS: dict[str, int] = {
    "NO_COOKIES_FOUND": 400,
    "NOT_AUTHENTICATED": 401,
    "INVALID_CREDENTIALS": 400,
    "EMAIL_NOT_VERIFIED": 403,
    "EMAIL_CODE_REQUIRED": 403,
    "EMAIL_TAKEN": 409,
    "ALREADY_VERIFIED": 400,
    "USER_NOT_FOUND": 404,
    "INVALID_CODE": 400,
    "CODE_EXPIRED": 400,
    "TOO_MANY_ATTEMPTS": 429,
    "INVALID_TOKEN": 400,
    "CSRF_FAILED": 403,
    "FORBIDDEN": 403,
    "INVALID_IMAGE": 422,
    "UNSUPPORTED_IMAGE_TYPE": 415,
    "IMAGE_TOO_LARGE": 413,
    "FOREIGN_IMAGE": 403,
    "IMAGE_NOT_FOUND": 404,
    "STYLE_NOT_FOUND": 404,
    "IMAGE_NOT_READY": 409,
    "VIEWS_EXIST": 409,
    "NO_FACE_DETECTED": 422,
    "INSUFFICIENT_CREDITS": 402,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "PAYMENTS_NOT_CONFIGURED": 503,
    "PAYMENT_PROVIDER_ERROR": 502,
    "INVALID_SIGNATURE": 401,
    "TRANSACTION_NOT_FOUND": 404,
    "PRICING_UNAVAILABLE": 503,
    "GENERATOR_NOT_REPLICATE": 404,
    "PROVIDER_UNAVAILABLE": 503,
    "NOT_FOUND": 404,
    "RATE_LIMITED": 429,
    "PAYLOAD_TOO_LARGE": 413,
    "INTERNAL_ERROR": 500,
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    detail: ErrorDetail


class ValidationErrorItem(BaseModel):
    """One entry of FastAPI's validation list (SPEC §0); `input` is a short excerpt."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrorBody(BaseModel):
    detail: list[ValidationErrorItem]


# A route naming a 422 code answers both shapes with 422: its own code, or request validation.
Unprocessable = ErrorBody | ValidationErrorBody


def operation_id(route: APIRoute) -> str:
    tag = str(route.tags[0]) if route.tags else "default"
    return f"{tag}-{route.name}"


def error_responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: one entry per status, naming the codes it can carry."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(ERROR_STATUS[code], []).append(code)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, names in sorted(by_status.items()):
        description = "Error codes: " + ", ".join(sorted(names))
        if status == 422:
            description += "; or the request validation list"
        model = Unprocessable if status == 422 else ErrorBody
        responses[status] = {"model": model, "description": description}
    return responses
