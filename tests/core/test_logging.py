"""Logs carry the request id and never the query string (verify links carry tokens)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from app.core.logging import JsonFormatter, _RequestIdFilter


async def test_access_log_has_path_status_and_no_query_string(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hairtryon.access"):
        await client.get("/health?token=super-secret-token")
    lines = [r.getMessage() for r in caplog.records if r.name == "hairtryon.access"]
    assert any(line.startswith("GET /health 200") for line in lines)
    assert not any("super-secret-token" in line for line in lines)


def test_json_formatter_emits_one_object_with_request_id() -> None:
    record = logging.makeLogRecord(
        {"name": "t", "levelname": "INFO", "msg": "hello %s", "args": ("world",)}
    )
    _RequestIdFilter().filter(record)
    payload = json.loads(JsonFormatter().format(record))
    assert payload["message"] == "hello world"
    assert payload["level"] == "INFO"
    assert "request_id" in payload
