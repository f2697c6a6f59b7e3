"""Logfire: off (not even configured) without LOGFIRE_TOKEN; with it, spans are scrubbed of
addresses, tokens, codes and secrets before they leave the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from fastapi import FastAPI
from logfire._internal.config import GLOBAL_CONFIG

from app.core.config import PROJECT_ROOT, Settings
from app.core.telemetry import configure_logfire, logfire_enabled


def test_without_a_token_logfire_is_never_configured(app: FastAPI, settings: Settings) -> None:
    assert not logfire_enabled(settings)
    assert not logfire_enabled(Settings(_env_file=None, LOGFIRE_TOKEN="  "))
    assert configure_logfire(settings, "hairtryon-test") is False
    # The app fixture built the app: it did not configure logfire either (no phoning home).
    assert not GLOBAL_CONFIG._initialized


SCRIPT = textwrap.dedent(
    """
    import json
    import logfire
    from logfire.testing import SimpleSpanProcessor, TestExporter
    from app.core.config import Settings
    from app.core.telemetry import logfire_options

    settings = Settings(_env_file=None, LOGFIRE_TOKEN="pylf_v1_eu_notarealtoken")
    options = logfire_options(settings, "hairtryon-test")
    assert options["send_to_logfire"] == "if-token-present"
    exporter = TestExporter()
    # The project's options, but exported to memory only.
    options.update(
        token=None, send_to_logfire=False,
        additional_span_processors=[SimpleSpanProcessor(exporter)],
    )
    logfire.configure(**options)
    with logfire.span(
        "signup",
        recipient="ana@example.com",
        email="bob@example.org",
        url="https://api.hairtryon.app/api/v1/auth/verify?token=abc123secret",
        callback="https://api.hairtryon.app/cb?code=4/0AQl&state=xyz",
        refresh_token="r-token-value",
        brevo="xkeysib-0123456789",
        user_id=5,
        route="/api/v1/user/me",
    ):
        pass
    spans = exporter.exported_spans_as_dict()
    print(json.dumps([span["attributes"] for span in spans]))
    """
)


def test_logfire_spans_are_scrubbed_of_addresses_tokens_codes_and_secrets() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=str(PROJECT_ROOT),
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    attributes = json.loads(result.stdout.strip().splitlines()[-1])[0]
    dumped = json.dumps(attributes)
    for secret in (
        "ana@example.com",
        "bob@example.org",
        "abc123secret",
        "4/0AQl",
        "r-token-value",
        "xkeysib-0123456789",
    ):
        assert secret not in dumped, secret
    assert attributes["user_id"] == 5
    assert attributes["route"] == "/api/v1/user/me"


NATIVE_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys, tempfile
    import httpx
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from app.core.config import Settings
    from app.main import create_app

    # A global tracer provider someone else configured: FastAPI's own telemetry would use it.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    settings = Settings(
        _env_file=None, DATABASE_URL="sqlite:///" + tempfile.mkdtemp() + "/t.db",
        MEDIA_DIR=tempfile.mkdtemp(), MAIL_DIR=tempfile.mkdtemp(),
    )
    app = create_app(settings) if sys.argv[1] == "ours" else __import__("fastapi").FastAPI()

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/no-such-page")
    asyncio.run(main())
    print(json.dumps(len(exporter.get_finished_spans())))
    """
)


def _native_spans(which: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", NATIVE_SCRIPT, which],
        cwd=str(PROJECT_ROOT),
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    spans: int = json.loads(result.stdout.strip().splitlines()[-1])
    return spans


def test_without_a_token_fastapis_own_telemetry_is_off_too() -> None:
    """Not even a globally configured OpenTelemetry provider gets our requests' spans (and
    FastAPI does not look the providers up per request); the control, a plain FastAPI app,
    does record its request."""
    assert _native_spans("plain") > 0
    assert _native_spans("ours") == 0
