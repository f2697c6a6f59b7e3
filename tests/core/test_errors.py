"""The error contract of SPEC §0: one shape, validation lists kept, no tracebacks."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from app.core.errors import AppError


class _Echo(BaseModel):
    name: str


class _Teapot(AppError):
    status_code = 418
    code = "TEAPOT"
    message = "I am a teapot."


def _add_probe_routes(app: FastAPI) -> None:
    async def echo(body: _Echo) -> _Echo:
        return body

    async def explode() -> None:
        raise RuntimeError("secret internals: SELECT * FROM users")

    async def teapot() -> None:
        raise _Teapot()

    app.add_api_route("/probe/echo", echo, methods=["POST"])
    app.add_api_route("/probe/explode", explode, methods=["GET"])
    app.add_api_route("/probe/teapot", teapot, methods=["GET"])


async def test_malformed_json_gets_422_in_fastapi_list_shape(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _add_probe_routes(app)
    response = await client.post(
        "/probe/echo", content=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail[0]["type"] == "json_invalid"
    assert {"loc", "msg", "type"} <= set(detail[0])


async def test_missing_field_gets_422_list_shape(app: FastAPI, client: httpx.AsyncClient) -> None:
    _add_probe_routes(app)
    response = await client.post("/probe/echo", json={})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


async def test_unhandled_exception_is_generic_500_with_request_id_and_no_traceback(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _add_probe_routes(app)
    response = await client.get("/probe/explode", headers={"X-Request-ID": "req-500-check"})
    assert response.status_code == 500
    body = response.json()
    assert body["detail"]["code"] == "INTERNAL_ERROR"
    assert body["detail"]["request_id"] == "req-500-check"
    assert response.headers["X-Request-ID"] == "req-500-check"
    assert "Traceback" not in response.text
    assert "SELECT" not in response.text
    assert "secret internals" not in response.text


async def test_app_error_renders_code_and_message(app: FastAPI, client: httpx.AsyncClient) -> None:
    _add_probe_routes(app)
    response = await client.get("/probe/teapot")
    assert response.status_code == 418
    assert response.json() == {"detail": {"code": "TEAPOT", "message": "I am a teapot."}}


async def test_unknown_route_is_404_in_contract_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "NOT_FOUND"


async def test_wrong_method_is_405_in_contract_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/health")
    assert response.status_code == 405
    assert response.json()["detail"]["code"] == "METHOD_NOT_ALLOWED"
