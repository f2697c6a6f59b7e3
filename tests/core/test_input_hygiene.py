"""Input hygiene (IN-01, IN-02): every JSON field, path and query parameter of every operation
in the app's OpenAPI refuses text no database or encoder takes, and integers no database
column holds, with the 422 list of SPEC §0 (or 404) and never a 500.

The operations are read from the OpenAPI document, so a new route is covered without
touching this file. Requests are sent as a signed-in, verified user so that validation, not
authentication, decides the answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from tests.auth.flows import Mail, signed_up_and_verified

# Lone surrogate, NUL, ESC (a C0 control) and NEL (a C1 control); CR LF as a header injection.
BAD_TEXT = {
    "surrogate": "ab\ud800cd",
    "nul": "ab\x00cd",
    "escape": "ab\x1bcd",
    "nel": "ab\x85cd",
    "crlf": "ab\r\nBcc: x@example.com",
}
HUGE_INTS = [2**63, 2**64 + 1, 10**30]
# A validation error is short whatever was sent (IN-03).
ERROR_BYTES_MAX = 4096
# Login-time passwords keep accepting control characters: a password set before this check
# must still work. NUL and surrogates are refused there too.
LENIENT_FIELDS = {
    ("/api/v1/auth/login", "password"),
    ("/api/v1/auth/request-login-token", "password"),
}


@dataclass
class Operation:
    method: str
    path: str
    body: dict[str, Any] | None
    string_fields: list[str]
    int_fields: list[str]
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    string_params: list[tuple[str, str]] = field(default_factory=list)
    int_params: list[tuple[str, str]] = field(default_factory=list)

    def url(self, path_params: dict[str, str], query: dict[str, str]) -> str:
        path = self.path
        for name, value in path_params.items():
            path = path.replace("{" + name + "}", _quote(value))
        if query:
            path += "?" + "&".join(f"{k}={_quote(v)}" for k, v in query.items())
        return path


def _quote(value: str) -> str:
    # A lone surrogate goes out as the bytes ED A0 80, which are not UTF-8.
    return quote(value, safe="", errors="surrogatepass")


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return dict(spec["components"]["schemas"][name])
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _resolve(spec, option)
    return schema


def _sample(schema: dict[str, Any], name: str) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if schema.get("format") == "email":
        return "someone@example.com"
    if name == "file_type":
        return "image/jpeg"
    return "a" * max(8, schema.get("minLength", 1))


def operations(app: FastAPI) -> Iterator[Operation]:
    spec = app.openapi()
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            content = op.get("requestBody", {}).get("content", {})
            body: dict[str, Any] | None = None
            strings: list[str] = []
            ints: list[str] = []
            if "application/json" in content:
                schema = _resolve(spec, content["application/json"]["schema"])
                body = {}
                for name, prop in schema.get("properties", {}).items():
                    prop = _resolve(spec, prop)
                    body[name] = _sample(prop, name)
                    (ints if prop.get("type") == "integer" else strings).append(name)
                if "new_password" in body:
                    body["confirm_password"] = body["new_password"]
            operation = Operation(method.upper(), path, body, strings, ints)
            for param in op.get("parameters", []):
                if param["in"] not in ("path", "query"):
                    continue
                schema = _resolve(spec, param["schema"])
                value = str(_sample(schema, param["name"])).lower()
                target = operation.path_params if param["in"] == "path" else operation.query
                target[param["name"]] = value
                kind = schema.get("type")
                if kind == "integer":
                    operation.int_params.append((param["in"], param["name"]))
                elif kind == "string":
                    operation.string_params.append((param["in"], param["name"]))
            yield operation


async def _send(
    client: httpx.AsyncClient,
    op: Operation,
    body: dict[str, Any] | None = None,
    path_params: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> httpx.Response:
    body = op.body if body is None else body
    url = op.url(path_params or op.path_params, op.query if query is None else query)
    # ensure_ascii writes a lone surrogate as the escape \ud800, as a client would send it.
    content = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if content is not None else {}
    return await client.request(op.method, url, content=content, headers=headers)


def _check_refused(response: httpx.Response, allowed: set[int], case: str) -> str | None:
    if response.status_code not in allowed:
        return f"{case}: {response.status_code} {response.text[:200]}"
    if len(response.content) > ERROR_BYTES_MAX:
        return f"{case}: error of {len(response.content)} bytes"
    if response.status_code == 422 and not isinstance(response.json()["detail"], list):
        return f"{case}: 422 not in the list shape"
    return None


@pytest.fixture
async def signed_in(client: httpx.AsyncClient, mail: Mail) -> httpx.AsyncClient:
    await signed_up_and_verified(client, mail)
    return client


async def test_in01_bad_text_in_every_json_field_is_422(
    app: FastAPI, signed_in: httpx.AsyncClient
) -> None:
    failures: list[str] = []
    checked = 0
    for op in operations(app):
        assert op.body is not None or not op.string_fields
        for name in op.string_fields:
            for label, bad in BAD_TEXT.items():
                assert op.body is not None
                response = await _send(signed_in, op, body={**op.body, name: bad})
                lenient = (op.path, name) in LENIENT_FIELDS and label not in ("surrogate", "nul")
                allowed = {400, 401, 403, 422} if lenient else {422}
                failures.append(
                    _check_refused(response, allowed, f"{op.path} {name} {label}") or ""
                )
                checked += 1
    assert checked > 80  # every JSON route of SPEC §1-§5 has string fields
    assert "\n".join(failure for failure in failures if failure) == ""


async def test_in01_bad_text_in_every_path_and_query_parameter_is_refused(
    app: FastAPI, signed_in: httpx.AsyncClient
) -> None:
    failures: list[str] = []
    checked = 0
    for op in operations(app):
        for where, name in op.string_params:
            for label, bad in BAD_TEXT.items():
                if where == "path":
                    response = await _send(signed_in, op, path_params={**op.path_params, name: bad})
                else:
                    response = await _send(signed_in, op, query={**op.query, name: bad})
                # A URL carries UTF-8: a lone surrogate arrives as U+FFFD, a valid character
                # for which the route answers as it does for any other value.
                # A path parameter holding a line break does not route at all: 404.
                allowed = set(range(200, 500)) if label == "surrogate" else {422}
                if where == "path" and label == "crlf":
                    allowed = {404, 422}
                failures.append(
                    _check_refused(response, allowed, f"{op.path} {name} {label}") or ""
                )
                checked += 1
    assert checked >= 25
    assert "\n".join(failure for failure in failures if failure) == ""


async def test_in01_nul_in_a_payment_id_is_422_not_500(signed_in: httpx.AsyncClient) -> None:
    response = await signed_in.get("/api/v1/payments/transaction/pay%00ment")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "payment_id"]


async def test_in01_lone_surrogate_in_a_signup_is_422_with_the_input_escaped(
    client: httpx.AsyncClient,
) -> None:
    body = b'{"name": "Ada \\ud800", "email": "ada@example.com", "password": "long enough"}'
    response = await client.post(
        "/api/v1/auth/signup", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "name"]
    assert error["input"] == "Ada \\ud800"


async def test_in02_huge_ints_in_every_field_and_parameter_are_422_or_404(
    app: FastAPI, signed_in: httpx.AsyncClient
) -> None:
    failures: list[str] = []
    checked = 0
    for op in operations(app):
        for huge in [*HUGE_INTS, -1]:
            for name in op.int_fields:
                assert op.body is not None
                response = await _send(signed_in, op, body={**op.body, name: huge})
                failures.append(_check_refused(response, {422}, f"{op.path} {name} {huge}") or "")
                checked += 1
            for where, name in op.int_params:
                if where == "path":
                    response = await _send(
                        signed_in, op, path_params={**op.path_params, name: str(huge)}
                    )
                else:
                    response = await _send(signed_in, op, query={**op.query, name: str(huge)})
                allowed = {404, 422}
                failures.append(_check_refused(response, allowed, f"{op.path} {name} {huge}") or "")
                checked += 1
    assert checked >= 40
    assert "\n".join(failure for failure in failures if failure) == ""


async def test_in02_booleans_in_every_integer_json_field_are_422(
    app: FastAPI, signed_in: httpx.AsyncClient
) -> None:
    """`true` is not a number: Pydantic's lax mode would read it as 1 (one credit bought, a
    share link of one hour, style 1) where the client most likely sent the wrong field."""
    failures: list[str] = []
    checked = 0
    for op in operations(app):
        for name in op.int_fields:
            assert op.body is not None
            for boolean in (True, False):
                response = await _send(signed_in, op, body={**op.body, name: boolean})
                failures.append(
                    _check_refused(response, {422}, f"{op.path} {name} {boolean}") or ""
                )
                checked += 1
    assert checked >= 6
    assert "\n".join(failure for failure in failures if failure) == ""


async def test_in02_numbers_no_json_encoder_writes_back_are_422_in_every_json_field(
    app: FastAPI, signed_in: httpx.AsyncClient
) -> None:
    """1e400 overflows to infinity and Python's parser takes NaN/Infinity: the 422 that quotes
    the input must still be valid JSON."""
    failures: list[str] = []
    checked = 0
    for op in operations(app):
        if op.body is None:
            continue
        for name in [*op.int_fields, *op.string_fields]:
            for literal in ("1e400", "-1e400", "NaN", "Infinity"):
                marker = "__number__"
                content = json.dumps({**op.body, name: marker}).replace(f'"{marker}"', literal)
                response = await signed_in.request(
                    op.method,
                    op.url(op.path_params, op.query),
                    content=content,
                    headers={"Content-Type": "application/json"},
                )
                case = f"{op.path} {name} {literal}"
                failures.append(_check_refused(response, {422}, case) or "")
                checked += 1
    assert checked >= 100
    assert "\n".join(failure for failure in failures if failure) == ""


async def test_in02_the_last_page_whose_offset_fits_answers_an_empty_page(
    signed_in: httpx.AsyncClient,
) -> None:
    from app.core.types import PAGE_MAX

    for path in ("/api/v1/user/images", "/api/v1/user/credits/history"):
        response = await signed_in.get(path, params={"page": PAGE_MAX, "limit": 100})
        assert response.status_code == 200, response.text
        too_far = await signed_in.get(path, params={"page": PAGE_MAX + 1, "limit": 100})
        assert too_far.status_code == 422


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/auth/signup", "/api/v1/auth/refresh"]
)
async def test_in01_deeply_nested_json_is_a_client_error_not_500(
    client: httpx.AsyncClient, path: str
) -> None:
    body = b"[" * 30_000 + b"]" * 30_000
    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text


def _is_unbounded(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    from app.core.types import INT64_MAX

    schema = _resolve(spec, schema)
    kind = schema.get("type")
    if kind == "string":
        # An enum is bounded by its longest member.
        return (
            "maxLength" not in schema and "enum" not in schema and schema.get("format") != "email"
        )
    if kind == "integer":
        below_int64_end = schema.get("exclusiveMaximum", INT64_MAX + 2) <= INT64_MAX + 1
        within_int64 = schema.get("maximum", INT64_MAX + 1) <= INT64_MAX
        return "minimum" not in schema or not (below_int64_end or within_int64)
    return False


def _inputs(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            # Headers are bounded by the server (h11 refuses a head over 16 KiB).
            for param in op.get("parameters", []):
                if param["in"] in ("path", "query"):
                    yield f"{method} {path} {param['name']}", param["schema"]
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                body = _resolve(spec, content["application/json"]["schema"])
                for name, prop in body.get("properties", {}).items():
                    yield f"{method} {path} body.{name}", prop


def test_every_input_in_the_openapi_is_bounded(app: FastAPI) -> None:
    """Each string field and parameter has a maximum length (emails: the parser's 254), each
    integer a minimum and a maximum within int64: the shared input types say so."""
    spec = app.openapi()
    unbounded = [where for where, schema in _inputs(spec) if _is_unbounded(spec, schema)]
    assert unbounded == []
