"""Logs carry the request id and never the query string (verify links carry tokens)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from app.core.logging import JsonFormatter, TextFormatter, _RequestIdFilter


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


async def test_control_characters_in_paths_are_escaped_in_text_logs(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A path carrying CR LF (percent-encoded on the wire, decoded in the ASGI path) must not
    start a forged line in the text log."""
    with caplog.at_level(logging.INFO, logger="hairtryon.access"):
        await client.get("/api/v1/x%0D%0A2026-12-02 INFO hairtryon.auth: admin login ok%1b[31m")
    [record] = [r for r in caplog.records if r.name == "hairtryon.access"]
    _RequestIdFilter().filter(record)
    line = TextFormatter().format(record)
    assert "\n" not in line
    assert "\r" not in line
    assert "\x1b" not in line
    assert "\\r\\n2026-12-02 INFO" in line
    assert "\\x1b[31m" in line


def test_text_formatter_escapes_controls_in_messages_but_keeps_tracebacks() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.makeLogRecord(
            {
                "name": "t",
                "levelname": "ERROR",
                "msg": "user said %s",
                "args": ("hi\nFAKE line\u2028",),
                "exc_info": sys.exc_info(),
            }
        )
    _RequestIdFilter().filter(record)
    text = TextFormatter().format(record)
    first, *rest = text.split("\n")
    assert first.endswith("user said hi\\nFAKE line\\u2028")
    assert rest[0].startswith("Traceback")
