"""Logs carry the request id and never the query string (verify links carry tokens)."""

from __future__ import annotations

import io
import json
import logging
import warnings

import httpx
import pytest

from app.core.log_context import log_scope
from app.core.logging import (
    JsonFormatter,
    TextFormatter,
    _RequestIdFilter,
    build_handler,
    configure_logging,
    mask_email,
    redact,
)
from tests.auth.flows import Mail, signed_up_and_verified


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


# --- CFG-04: structured and clean -----------------------------------------------------------


def test_cfg04_redaction_masks_addresses_tokens_and_secrets() -> None:
    text = redact(
        "email to bob.x+1@gmail.com; Authorization: Bearer abcdefghijklmn; "
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl; token=t0ps3cret&code=482913; "
        "hairtryon_refresh=r3fr3sh; key xkeysib-0123456789abcdef whsec_MfKQ9r8GKYqrTwjUPD8ILPZI"
    )
    for secret in (
        "bob.x+1@gmail.com",
        "abcdefghijklmn",
        "eyJhbGciOiJIUzI1NiJ9",
        "t0ps3cret",
        "482913",
        "r3fr3sh",
        "xkeysib-0123456789abcdef",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZI",
    ):
        assert secret not in text
    assert mask_email("bob.x+1@gmail.com") in text
    assert mask_email("Bob.X+1@gmail.com ") == mask_email("bob.x+1@gmail.com")


def test_cfg04_a_share_link_token_in_any_line_is_redacted() -> None:
    """Whatever logs a share page's URL (the 500 handler, a library) leaves its token out:
    the token opens the page."""
    token = "q8Hn3kV0d1Yw2m4Zp6Tt9Rb5Lx7Cs0Ef2Gh4Jk6Mn8P"
    for line in (
        f"unhandled error on GET /s/{token}/before",
        f"GET https://api.example.com/s/{token} 200",
    ):
        text = redact(line)
        assert token not in text
        assert "/s/[token]" in text
    assert redact("GET /api/v1/styles/s/1 200") == "GET /api/v1/styles/s/1 200"


def test_cfg04_provider_message_ids_are_kept() -> None:
    assert "<202612020455.1234@smtp-relay.mailin.fr>" in redact(
        "accepted by Brevo as <202612020455.1234@smtp-relay.mailin.fr>"
    )


def test_cfg04_a_library_line_with_an_address_or_token_is_redacted_in_json() -> None:
    stream = io.StringIO()
    handler = build_handler(json_logs=True, stream=stream)
    logger = logging.getLogger("somelib")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("no account for ana@example.com")
        except ValueError:
            logger.exception("lookup %s failed", "ana@example.com", extra={"url": "/v?token=abc1"})
    finally:
        logger.removeHandler(handler)
    [line] = stream.getvalue().splitlines()
    payload = json.loads(line)
    assert "ana@example.com" not in line
    assert "abc1" not in line
    assert payload["message"] == f"lookup {mask_email('ana@example.com')} failed"
    assert "ValueError" in payload["exc"]


def test_cfg04_python_warnings_become_json_log_lines() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        configure_logging(json_logs=True)
        root.handlers[0] = build_handler(json_logs=True, stream=stream)
        warnings.warn("an old api is deprecated", UserWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = saved
    [line] = stream.getvalue().splitlines()
    payload = json.loads(line)
    assert payload["logger"] == "py.warnings"
    assert "an old api is deprecated" in payload["message"]


def test_cfg04_job_lines_carry_the_job_and_image_id() -> None:
    stream = io.StringIO()
    handler = build_handler(json_logs=True, stream=stream)
    logger = logging.getLogger("tests.jobs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with log_scope(job="generate_image", image_id=42):
            logger.info("generating")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inside["job"], inside["image_id"]) == ("generate_image", "42")
    assert "image_id" not in outside


async def test_cfg04_request_lines_carry_request_and_user_id(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    stream = io.StringIO()
    handler = build_handler(json_logs=True, stream=stream)
    access = logging.getLogger("hairtryon.access")
    access.addHandler(handler)
    try:
        await signed_up_and_verified(client, mail)
        me = await client.get("/api/v1/user/me", headers={"X-Request-ID": "req-user-line"})
        anonymous = await client.get("/health", headers={"X-Request-ID": "req-anon-line"})
    finally:
        access.removeHandler(handler)
    assert me.status_code == anonymous.status_code == 200
    lines = {p["request_id"]: p for p in map(json.loads, stream.getvalue().splitlines())}
    assert lines["req-user-line"]["user_id"] == str(me.json()["id"])
    assert "user_id" not in lines["req-anon-line"]
