"""The OpenAPI document can drive every call (issue 11 item 5): every operation has examples,
documents 500 and (where limited) 429, declares the multipart bodies it reads, and shows the
422 shape that is actually returned."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI

from tests.auth.flows import Mail, signed_up_and_verified

JSON = {"content-type": "application/json"}
TEXT = {"content-type": "text/plain"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
# Outside every budget on purpose: probes, media, and the providers' signed webhooks.
UNLIMITED = {
    "/health",
    "/ready",
    "/api/v1/payments/webhook",
    "/api/v1/webhooks/replicate",
    "/media/{key}",
    "/metrics",
}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


@pytest.fixture
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _resolver(document: dict[str, Any]) -> dict[str, Any]:
    # Components addressable as "#/components/schemas/X" from any fragment.
    return {"components": document["components"]}


def _check_example(
    document: dict[str, Any], where: str, media_type: str, media: dict[str, Any]
) -> list[str]:
    examples = (
        [media["example"]]
        if "example" in media
        else [e["value"] for e in media.get("examples", {}).values()]
    )
    if not examples:
        return [f"{where} {media_type}: no example"]
    if not media_type.endswith("json"):
        return []
    schema = {**media["schema"], **_resolver(document)}
    problems = []
    for example in examples:
        try:
            jsonschema.validate(example, schema)
        except jsonschema.ValidationError as exc:
            problems.append(f"{where} {media_type}: example does not fit: {exc.message}")
    return problems


def test_every_operation_has_examples_that_fit_their_schemas(document: dict[str, Any]) -> None:
    problems: list[str] = []
    for path, method, operation in _operations(document):
        body = operation.get("requestBody")
        for media_type, media in (body or {}).get("content", {}).items():
            problems += _check_example(document, f"{method} {path} body", media_type, media)
        for status, response in operation["responses"].items():
            for media_type, media in response.get("content", {}).items():
                problems += _check_example(document, f"{method} {path} {status}", media_type, media)
    assert problems == []


def test_every_operation_documents_500_and_every_limited_one_429(
    document: dict[str, Any],
) -> None:
    missing_500 = [f"{m} {p}" for p, m, op in _operations(document) if "500" not in op["responses"]]
    limited = [(p, m, op) for p, m, op in _operations(document) if p not in UNLIMITED]
    missing_429 = [f"{m} {p}" for p, m, op in limited if "429" not in op["responses"]]
    assert missing_500 == []
    assert missing_429 == []
    assert len(limited) > 35
    for _path, _method, operation in limited:
        assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_multipart_upload_routes_declare_their_file_body(document: dict[str, Any]) -> None:
    for path in (
        "/api/v1/files/upload",
        "/api/v1/user/profile/picture",
        "/api/v1/files/upload-form",
    ):
        content = document["paths"][path]["post"]["requestBody"]["content"]
        schema = content["multipart/form-data"]["schema"]
        assert schema["properties"]["file"] == {**schema["properties"]["file"], "format": "binary"}
        assert "file" in schema["required"]


async def test_documented_422_is_the_shape_actually_returned(
    client: httpx.AsyncClient, mail: Mail, document: dict[str, Any]
) -> None:
    await signed_up_and_verified(client, mail)
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("post", "/api/v1/image/generate", {"json": {"style_id": "not a number"}}),
        ("post", "/api/v1/auth/signup", {"json": {"email": "x"}}),
        ("put", "/api/v1/user/profile", {"json": {"name": ""}}),
        # Declares its own 422 by description only: still the validation list's schema.
        ("get", "/api/v1/image/styles", {"params": {"gender": "robot"}}),
    ]
    for method, path, request in cases:
        response = await client.request(method.upper(), path, **request)
        assert response.status_code == 422, (path, response.text)
        media = document["paths"][path][method]["responses"]["422"]["content"]["application/json"]
        jsonschema.validate(response.json(), {**media["schema"], **_resolver(document)})


async def test_each_answer_these_requests_get_is_documented_with_its_schema(
    client: httpx.AsyncClient, mail: Mail, document: dict[str, Any]
) -> None:
    """Answers fuzzing found undocumented (status_code_conformance in tests/test_fuzz.py)."""
    email = await signed_up_and_verified(client, mail)
    # Not UTF-8: FastAPI's body reader answers 400 before any validation.
    not_utf8 = {"content": b"\xb9{}", "headers": JSON}
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("post", "/api/v1/auth/login", {"json": {"email": email, "password": "wrong"}}, 401),
        ("post", "/api/v1/auth/login", {"content": b"{", "headers": JSON}, 422),
        ("post", "/api/v1/auth/signup", not_utf8, 400),
        ("post", "/api/v1/auth/check-email-status", not_utf8, 400),
        ("patch", "/api/v1/user/profile", {"json": {"userpic_key": "uploads/none.jpg"}}, 404),
        ("get", "/media/{key}", {"params": {"expires": "1", "sig": "a"}}, 403),
        ("post", "/api/v1/files/upload-form", {"content": b"x", "headers": TEXT}, 422),
    ]
    for method, path, request, status in cases:
        url = path.replace("{key}", "uploads/x.jpg")
        response = await client.request(method.upper(), url, **request)
        assert response.status_code == status, (path, response.text)
        documented = document["paths"][path][method]["responses"]
        assert str(status) in documented, (method, path, status)
        media = documented[str(status)]["content"]["application/json"]
        jsonschema.validate(response.json(), {**media["schema"], **_resolver(document)})


def test_no_json_answer_is_documented_as_file_bytes(document: dict[str, Any]) -> None:
    binary = [
        f"{method} {path} {status}"
        for path, method, operation in _operations(document)
        for status, response in operation["responses"].items()
        for media_type, media in response.get("content", {}).items()
        if media_type.endswith("json") and media.get("schema", {}).get("format") == "binary"
    ]
    assert binary == []


async def test_internal_error_example_matches_the_real_shape(document: dict[str, Any]) -> None:
    media = document["paths"]["/api/v1/user/me"]["get"]["responses"]["500"]["content"]
    example = media["application/json"]["example"]
    assert example["detail"]["code"] == "INTERNAL_ERROR"
    assert example["detail"]["request_id"]
