"""Logging: readable lines in development, one JSON object per line in production.

Configured once per process (API, worker, migrations) before anything else logs; Python
warnings go through it too. Every line carries the request id and the bound fields (user id,
job, image id). Never log tokens, cookies or query strings (the verify link carries a token in
its query) nor email addresses (`mask_email`); `RedactingFilter` is the last line of defence
for what slips through, in our lines and in libraries'.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from app.core.log_context import log_fields
from app.core.request_id import current_request_id

# uvicorn adds `color_message`, the message with terminal colours: never wanted in a log file.
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
}

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Provider message ids (`<202612020455.123456@smtp-relay.mailin.fr>`) look like addresses
# but name no one: kept, so a delivery can be traced with the provider.
_MESSAGE_ID = re.compile(r"<[0-9.]+@[A-Za-z0-9.-]+>")
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JSON Web Tokens (our access and refresh tokens, Google's id tokens).
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[token]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [token]"),
    # A share page's token (app/sharing: 43 URL-safe characters after /s/) opens the page.
    (re.compile(r"/s/[A-Za-z0-9_-]{32,}"), "/s/[token]"),
    # Provider keys: Brevo, Standard Webhooks secrets, Replicate, Dodo-style secret keys.
    (re.compile(r"\b(xkeysib|xsmtpsib)-[A-Za-z0-9-]{8,}"), "[secret]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"), "[secret]"),
    (re.compile(r"\br8_[A-Za-z0-9]{8,}"), "[secret]"),
    # name=value pairs in query strings, cookies and form bodies.
    (
        re.compile(
            r"(?i)\b([a-z_]*(?:token|password|secret|passwd|api_?key|cookie|session)[a-z_]*"
            r"|hairtryon_[a-z_]+|code|otp)=([^&;\s,'\"]+)"
        ),
        r"\1=[redacted]",
    ),
)


def mask_email(address: str) -> str:
    """A stable reference to an address that is not the address: operators can match lines
    about the same recipient without the logs holding personal data."""
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:10]
    return f"email#{digest}"


def _mask_unless_message_id(match: re.Match[str]) -> str:
    start, end = match.span()
    candidate = match.string[max(start - 1, 0) : end + 1]
    if _MESSAGE_ID.fullmatch(candidate):
        return match.group(0)
    return mask_email(match.group(0))


def redact(text: str) -> str:
    if "@" in text:
        text = _EMAIL.sub(_mask_unless_message_id, text)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class _RequestIdFilter(logging.Filter):
    """Adds the request id and the bound fields (user id, job, image id) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        for name, value in log_fields().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class RedactingFilter(logging.Filter):
    """Renders the message once, redacted: email addresses masked, tokens and secrets out."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string must not lose the line
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
        payload.update(extras)
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            payload["exc"] = redact(record.exc_text)
        if record.stack_info:
            payload["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(payload, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"
# Line breaks, terminal escapes and other control characters, plus the Unicode line and
# paragraph separators and lone surrogates.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def escape_controls(text: str) -> str:
    """`\\n`, `\\x1b`, `\\u2028` instead of the characters: one log record stays one line."""
    if not any(unicodedata.category(char) in _ESCAPED_CATEGORIES for char in text):
        return text
    return "".join(
        char.encode("unicode_escape", "backslashreplace").decode("ascii")
        if unicodedata.category(char) in _ESCAPED_CATEGORIES
        else char
        for char in text
    )


class TextFormatter(logging.Formatter):
    """The development format. The message is escaped (request paths and other client text
    end up in it, and a CR LF there would forge a log line); tracebacks keep their lines."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


def production_requested() -> bool:
    """`ENV=prod` from the environment or `.env`, read without validating the settings: a
    process refusing its configuration reports that in the production format too."""
    env = os.environ.get("ENV")
    if env is None and Path(".env").is_file():
        from dotenv import dotenv_values

        env = dotenv_values(".env").get("ENV")
    return env == "prod"


def build_handler(*, json_logs: bool, stream: TextIO | None = None) -> logging.Handler:
    """The process's one handler: context fields, redaction, then the format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if json_logs else TextFormatter())
    return handler


def configure_logging(*, json_logs: bool, level: str = "INFO") -> None:
    handler = build_handler(json_logs=json_logs)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # warnings.warn() (deprecations from libraries...) as log records, in the same format.
    logging.captureWarnings(True)
    # uvicorn's access log prints query strings (tokens!); ours logs the path only.
    logging.getLogger("uvicorn.access").disabled = True
    # Libraries that bring their own handlers (uvicorn, alembic's fileConfig, taskiq's
    # basicConfig) go through ours instead.
    for name in ("uvicorn", "uvicorn.error", "alembic", "taskiq", "py.warnings"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def configure_process_logging() -> None:
    """For entry points that configure logging before the settings are known to be valid."""
    from app.core.config import get_settings

    try:
        settings = get_settings()
    except Exception:
        configure_logging(json_logs=production_requested())
        return
    configure_logging(json_logs=settings.json_logs, level=settings.LOG_LEVEL)
