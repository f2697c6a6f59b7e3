"""`POST /auth/login` takes JSON `{email, password}` or the OAuth2 password form
(`username`, `password`), so both API clients and Swagger UI's Authorize button work."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.auth.schemas import CredentialsRequest

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

LOGIN_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/CredentialsRequest"}},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string", "description": "the account's email"},
                        "password": {"type": "string", "format": "password"},
                    },
                }
            },
        },
    }
}


async def read_login_credentials(request: Request) -> CredentialsRequest:
    content_type = request.headers.get("content-type", "")
    raw: Any
    if content_type.startswith(_FORM_TYPES):
        form = await request.form()
        raw = {"email": form.get("username"), "password": form.get("password")}
    else:
        try:
            raw = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": f"JSON decode error: {exc}"}]
            ) from None
        except RecursionError:
            # Nesting deeper than the parser's stack (a 64 KiB body of "[" reaches it).
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": "JSON nested too deeply"}]
            ) from None
    try:
        return CredentialsRequest.model_validate(raw)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None
