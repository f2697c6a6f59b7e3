"""OpenAPI helpers: deterministic operation ids, and `responses=` built from error codes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
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
    "COLOR_NOT_FOUND": 404,
    "IMAGE_NOT_READY": 409,
    "VIEWS_EXIST": 409,
    "SHARE_NOT_FOUND": 404,
    "NO_FACE_DETECTED": 422,
    "MULTIPLE_FACES": 422,
    "FACE_TOO_SMALL": 422,
    "PHOTO_TOO_DARK": 422,
    "PHOTO_TOO_BLURRY": 422,
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


def error_responses(
    *codes: str, status_of: Mapping[str, int] | None = None
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: one entry per status, naming the codes it can carry, with
    one example per code. `status_of` names a code this route answers with another status
    than usual (login's INVALID_CREDENTIALS is 401 for OAuth2 clients)."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault((status_of or {}).get(code, ERROR_STATUS[code]), []).append(code)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, names in sorted(by_status.items()):
        description = "Error codes: " + ", ".join(sorted(names))
        if status == 422:
            description += "; or the request validation list"
        responses[status] = {
            "model": Unprocessable if status == 422 else ErrorBody,
            "description": description,
            "content": {
                "application/json": {
                    "examples": {
                        name: {"summary": name, "value": _error_example(name)}
                        for name in sorted(names)
                    }
                }
            },
        }
    return responses


def _error_example(code: str) -> dict[str, Any]:
    sentence = code.replace("_", " ").capitalize() + " (a sentence for people)."
    return {"detail": {"code": code, "message": sentence}}


# --- request bodies FastAPI cannot see (routes that read a capped multipart form) ---


def multipart_file_body(description: str) -> dict[str, Any]:
    """`openapi_extra=` for a route that reads one multipart `file` itself (to cap its size
    while reading): declares the body so Swagger UI's "Try it out" and generated clients can
    send it."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": description,
                            }
                        },
                    },
                    "example": {"file": "selfie.jpg (JPEG, PNG or WebP bytes)"},
                }
            },
        }
    }


# --- completing the document: 429 and 500 everywhere they can happen, examples everywhere ---

INTERNAL_ERROR_EXAMPLE = {
    "detail": {
        "code": "INTERNAL_ERROR",
        "message": "Something went wrong on our side. Quote the request id if you contact support.",
        "request_id": "5f0c6a0e2b8e4d0c9d6c1f4e8a7b3c21",
    }
}
VALIDATION_EXAMPLE = {
    "detail": [
        {
            "type": "missing",
            "loc": ["body", "email"],
            "msg": "Field required",
            "input": {},
        }
    ]
}
RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds until the budget has room",
        "schema": {"type": "integer"},
    }
}
VALIDATION_REF = "#/components/schemas/HTTPValidationError"
ERROR_REF = "#/components/schemas/ErrorBody"

# Values for well-known field names, so examples read like real calls.
_FIELD_EXAMPLES: dict[str, Any] = {
    "email": "ada@example.com",
    "username": "ada@example.com",
    "password": "correct horse battery",
    "new_password": "a new long passphrase",
    "confirm_password": "a new long passphrase",
    "name": "Ada Lovelace",
    "code": "123456",
    "token": "q3V9xS0bJ6n2kz1R5wYtQ8mA",
    "verify_token": "q3V9xS0bJ6n2kz1R5wYtQ8mA",
    "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.refresh",
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.access",
    "token_type": "bearer",
    "expires_in": 600,
    "message": "Done.",
    "detail": "Done.",
    "file_url": "http://localhost:8000/media/uploads/user_1/abc.jpg?expires=1796191388&sig=…",
    "image_input_url": "http://localhost:8000/media/uploads/user_1/abc.jpg?expires=1796191388&sig=…",
    "upload_url": "http://localhost:8000/api/v1/files/upload-form",
    "checkout_url": "https://test.checkout.dodopayments.com/session/cks_123",
    "key": "uploads/user_1/abc.jpg",
    "session_id": "cks_123",
    "payment_id": "pay_123",
    "currency": "INR",
    "quantity": 5,
    "style_id": 1,
    "image_id": 42,
    "user_id": 1,
    "id": 1,
    "credits": 3,
    "file_type": "image/jpeg",
}
_DATE_TIME = "2026-12-02T05:00:00Z"


def install_openapi_completion(app: FastAPI, *, rate_limited: Callable[[Any], bool]) -> None:
    """Wrap `app.openapi` so the document can drive every call: every operation documents
    500 (`INTERNAL_ERROR`), every rate-limited one 429 with Retry-After, a 422 that can also be
    request validation shows both shapes, and every request and response body has an example
    (declared ones are kept, the rest are built from the schema)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = build()
        complete_document(document, app.routes, rate_limited)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def complete_document(
    document: dict[str, Any], routes: list[Any], rate_limited: Callable[[Any], bool]
) -> None:
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorDetail", ErrorDetail.model_json_schema())
    components.setdefault(
        "ErrorBody",
        {
            "title": "ErrorBody",
            "type": "object",
            "required": ["detail"],
            "properties": {"detail": {"$ref": "#/components/schemas/ErrorDetail"}},
        },
    )
    # Included routers are resolved lazily by FastAPI; its own iterator gives the routes as
    # served (full path, every dependency), as the document generator sees them.
    by_operation = {
        (route.path_format, method.lower()): route
        for route in iter_route_contexts(routes)
        if getattr(route, "dependant", None) is not None
        for method in route.methods or ()
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            route = by_operation.get((path, method))
            _complete_operation(
                operation,
                route is not None and rate_limited(route),
                components,
                parses_body=getattr(route, "body_field", None) is not None,
            )


def _complete_operation(
    operation: dict[str, Any], limited: bool, components: dict[str, Any], *, parses_body: bool
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if parses_body:
        _document_unreadable_body(responses)
    if limited and "429" not in responses:
        responses["429"] = {
            "description": "Error codes: RATE_LIMITED",
            "content": {
                "application/json": {
                    "schema": {"$ref": ERROR_REF},
                    "example": _error_example("RATE_LIMITED"),
                }
            },
        }
    if "429" in responses:
        responses["429"].setdefault("headers", {}).update(RETRY_AFTER_HEADER)
    responses.setdefault(
        "500",
        {
            "description": "Error codes: INTERNAL_ERROR (with a request id; never a stack trace)",
            "content": {
                "application/json": {
                    "schema": {"$ref": ERROR_REF},
                    "example": INTERNAL_ERROR_EXAMPLE,
                }
            },
        },
    )
    validates = bool(operation.get("parameters") or operation.get("requestBody"))
    unprocessable = responses.get("422")
    if unprocessable and validates:
        media = unprocessable.setdefault("content", {}).setdefault("application/json", {})
        # A route that documents its 422 by description only (FastAPI then adds no schema)
        # still answers request validation's list: give it the same schema as the others.
        media.setdefault("schema", {"$ref": ERROR_REF})
        if media["schema"].get("$ref") == ERROR_REF:
            # Our own 422 codes, and request validation in FastAPI's list form (SPEC §0).
            media["schema"] = {"anyOf": [{"$ref": ERROR_REF}, {"$ref": VALIDATION_REF}]}
            unprocessable["description"] += "; or request validation (a list under `detail`)"
            media.setdefault("examples", {})["validation"] = {
                "summary": "request validation",
                "value": VALIDATION_EXAMPLE,
            }
    for status, response in responses.items():
        for media_type, media in response.get("content", {}).items():
            _add_example(media, components, status=status, media_type=media_type)
    body = operation.get("requestBody")
    if body:
        for media_type, media in body.get("content", {}).items():
            _add_example(media, components, status=None, media_type=media_type)


def _document_unreadable_body(responses: dict[str, Any]) -> None:
    """FastAPI answers 400 BAD_REQUEST ("There was an error parsing the body") when a body it
    parses cannot be read at all (e.g. JSON that is not UTF-8), before any validation."""
    example = {"summary": "BAD_REQUEST", "value": _error_example("BAD_REQUEST")}
    existing = responses.get("400")
    if existing is None:
        responses["400"] = {
            "description": "Error codes: BAD_REQUEST (a body that cannot be read)",
            "content": {
                "application/json": {
                    "schema": {"$ref": ERROR_REF},
                    "examples": {"BAD_REQUEST": example},
                }
            },
        }
        return
    media = existing.get("content", {}).get("application/json")
    if media is None or "BAD_REQUEST" in existing.get("description", ""):
        return
    existing["description"] += "; BAD_REQUEST (a body that cannot be read)"
    if "examples" in media:
        media["examples"]["BAD_REQUEST"] = example


def _add_example(
    media: dict[str, Any], components: dict[str, Any], *, status: str | None, media_type: str
) -> None:
    if "example" in media or "examples" in media:
        return
    schema = media.get("schema")
    if schema is None or not media_type.endswith("json"):
        if media_type.startswith(("image/", "application/octet-stream")) or schema is None:
            media.setdefault("schema", {"type": "string", "format": "binary"})
        media["example"] = example_for(media["schema"], components)
        return
    if schema.get("$ref") == VALIDATION_REF:
        media["example"] = VALIDATION_EXAMPLE
        return
    media["example"] = example_for(schema, components)


_NO_VALUE = object()


def example_for(
    schema: dict[str, Any], components: dict[str, Any], name: str | None = None, depth: int = 0
) -> Any:
    """A value that fits `schema`, preferring declared examples and defaults."""
    if "$ref" in schema:
        target = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return example_for(target, components, name, depth + 1)
    declared = _declared(schema)
    if declared is not _NO_VALUE:
        return declared
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example_for(options[0], components, name, depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {}) if depth <= 8 else {}
        return {
            prop: example_for(sub, components, prop, depth + 1) for prop, sub in properties.items()
        }
    if kind == "array":
        return [example_for(schema.get("items", {}), components, name, depth + 1)]
    if name in _FIELD_EXAMPLES and _fits(schema, _FIELD_EXAMPLES[name]):
        return _FIELD_EXAMPLES[name]
    return _scalar_example(schema)


def _declared(schema: dict[str, Any]) -> Any:
    for key in ("example", "const"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("default") is not None:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    return _NO_VALUE


def _scalar_example(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string_example(schema)


def _fits(schema: dict[str, Any], value: Any) -> bool:
    kind = schema.get("type")
    if kind == "string":
        return isinstance(value, str) and len(value) >= schema.get("minLength", 0)
    if kind == "integer":
        return isinstance(value, int) and value >= schema.get("minimum", value)
    return kind is None or kind == "number"


def _string_example(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return _DATE_TIME
    if fmt == "date":
        return _DATE_TIME[:10]
    if fmt == "email":
        return "ada@example.com"
    if fmt in {"uri", "url"}:
        return "https://example.com/"
    if fmt == "binary":
        return "(file bytes)"
    text = "string"
    return text.ljust(int(schema.get("minLength", 0)), "x")
