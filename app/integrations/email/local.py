"""The embedded email backend: every message becomes an `.eml` file under `var/mail`.

Developers open the files in any mail client (or read the text part) to pick up codes and
links; nothing leaves the machine.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import time
import unicodedata
from datetime import UTC, datetime
from email import policy
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path

import anyio.to_thread

from app.core.logging import mask_email
from app.integrations.email.port import EmailDeliveryError, OutgoingEmail

logger = logging.getLogger(__name__)


class LocalMailbox:
    def __init__(self, directory: Path, sender_email: str, sender_name: str) -> None:
        self._directory = directory
        self._sender = Address(display_name=_display_name(sender_name), addr_spec=sender_email)
        self._last_ns = 0

    @property
    def directory(self) -> Path:
        return self._directory

    async def send(self, message: OutgoingEmail) -> None:
        sent_at_ns = self._next_timestamp_ns()
        try:
            composed = self._compose(message, sent_at_ns)
            content = composed.as_bytes(policy=policy.SMTP)
            _check_generated_headers(content, composed.keys())
        except (ValueError, IndexError, MessageError) as exc:
            # What the stdlib address parser raises for a malformed address (IndexError for an
            # empty one); the same message would fail again on every retry.
            raise EmailDeliveryError(f"cannot compose email: {exc}", retryable=False) from exc
        try:
            path = await anyio.to_thread.run_sync(self._write, _file_name(sent_at_ns), content)
        except OSError as exc:
            raise EmailDeliveryError(f"cannot write email file: {exc}", retryable=False) from exc
        logger.info(
            "email to %s, subject %r, written to %s",
            mask_email(message.to_email),
            message.subject,
            path,
        )

    def _next_timestamp_ns(self) -> int:
        # Strictly increasing within the process, so file names sort in send order even when
        # two sends land in the same clock tick.
        self._last_ns = max(time.time_ns(), self._last_ns + 1)
        return self._last_ns

    def _compose(self, message: OutgoingEmail, sent_at_ns: int) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = Address(
            display_name=_display_name(message.to_name), addr_spec=message.to_email
        )
        mail["Subject"] = _one_line(message.subject)
        mail["Date"] = format_datetime(datetime.fromtimestamp(sent_at_ns / 1e9, UTC))
        # An explicit domain: without one, make_msgid resolves the host name (a DNS lookup).
        mail["Message-ID"] = make_msgid(domain=self._sender.domain or "localhost")
        mail.set_content(message.text)
        mail.add_alternative(message.html, subtype="html")
        return mail

    def _write(self, name: str, content: bytes) -> Path:
        self._directory.mkdir(parents=True, exist_ok=True)
        target = self._directory / name
        # Written beside the target and renamed into place, so a reader never sees half a file.
        fd, temp_name = tempfile.mkstemp(dir=self._directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return target


def _file_name(sent_at_ns: int) -> str:
    seconds, nanos = divmod(sent_at_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%dT%H%M%S")
    # The random part keeps names unique across processes writing to the same folder.
    return f"{stamp}.{nanos:09d}Z-{secrets.token_hex(4)}.eml"


def _one_line(value: str) -> str:
    """Collapse whitespace and drop control characters, so a user-chosen name cannot break a
    header onto a new line."""
    printable = "".join(char for char in value if unicodedata.category(char) != "Cc")
    return " ".join(printable.split())


def _display_name(value: str) -> str:
    """A display name that stays one display name. Python's header folder re-parses the
    header text and decodes RFC 2047 encoded words inside it, so a name such as
    `=?utf-8?q?x=0D=0ABcc:_y?=` would come out as a real line break and a Bcc header
    (CVE-2024-6923; Python 3.11 has no `verify_generated_headers`). Breaking the `=?` opener
    keeps the text readable and leaves nothing to decode."""
    return _one_line(value).replace("=?", "= ?")


def _check_generated_headers(content: bytes, expected: list[str]) -> None:
    """Our own `verify_generated_headers`: the message must carry exactly the headers we set."""
    header_block = content.split(b"\r\n\r\n", 1)[0]
    parsed = BytesParser(policy=policy.SMTP).parsebytes(header_block + b"\r\n\r\n")
    if sorted(parsed.keys()) != sorted(expected):
        raise MessageError("a header value produced extra headers")
