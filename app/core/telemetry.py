"""Logfire tracing, on only when LOGFIRE_TOKEN is set: FastAPI requests, SQLAlchemy queries
and httpx calls to providers. Nothing is sent, and logfire is not even configured, without a
token (FastAPI's own OpenTelemetry is off then too).

Spans can carry URLs (the verify and Google callback links hold tokens and codes in their
query), statement parameters and attributes set by libraries: on top of logfire's own
scrubbing (passwords, secrets, cookies, sessions, auth, access/refresh tokens...) anything
named like a token, code or email address, and any value that holds an address, is redacted.
Request and response headers are never captured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.core.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.telemetry import TelemetryConfig

# Regexes, matched case-insensitively against attribute names and string values.
EXTRA_SCRUB_PATTERNS = (
    r"token",
    r"e-?mail",
    # An address in any value (anchored on "@": logfire pre-filters on a pattern's first
    # character, so a pattern must start with a literal).
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    r"[?&](?:code|state|otp)=",
    r"(?:verify|login|signup|reset)[._ -]?code",
    r"authorization",
    r"whsec_",
    r"xkeysib-",
)
# Probes and scrapes: frequent and uninteresting.
EXCLUDED_URLS = "/health,/ready,/metrics"


# FastAPI's own OpenTelemetry, off without a token: otherwise it looks the three global
# providers up (environment reads) on every request, only to find none configured (3 % of a
# status poll's time).
NO_NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def fastapi_telemetry(settings: Settings) -> TelemetryConfig | None:
    """The app's `FastAPI(telemetry=...)`: FastAPI's defaults with logfire, off without it."""
    return None if logfire_enabled(settings) else NO_NATIVE_TELEMETRY


def logfire_enabled(settings: Settings) -> bool:
    token = settings.LOGFIRE_TOKEN
    return token is not None and bool(token.get_secret_value().strip())


def logfire_options(settings: Settings, service_name: str) -> dict[str, Any]:
    """The `logfire.configure` arguments (tests configure a local exporter with them)."""
    import logfire

    return {
        "token": settings.LOGFIRE_TOKEN.get_secret_value() if settings.LOGFIRE_TOKEN else None,
        # Belt and braces: even if configured without a token, nothing is sent.
        "send_to_logfire": "if-token-present",
        "service_name": service_name,
        "environment": settings.ENV,
        "console": False,
        "scrubbing": logfire.ScrubbingOptions(extra_patterns=list(EXTRA_SCRUB_PATTERNS)),
        # Function arguments in span names could hold anything: off.
        "inspect_arguments": False,
    }


def configure_logfire(settings: Settings, service_name: str) -> bool:
    """Configure logfire and instrument SQLAlchemy and httpx for this process; False (and
    nothing done) without a token."""
    if not logfire_enabled(settings):
        return False
    import logfire

    logfire.configure(**logfire_options(settings, service_name))
    # Engines and clients created from now on: the process builds them after this.
    logfire.instrument_sqlalchemy()
    logfire.instrument_httpx(capture_headers=False)
    return True


def instrument_app(app: FastAPI, settings: Settings) -> bool:
    if not configure_logfire(settings, "hairtryon-api"):
        return False
    import logfire

    logfire.instrument_fastapi(
        app, capture_headers=False, record_send_receive=False, excluded_urls=EXCLUDED_URLS
    )
    return True
