"""Read what the local mail backend wrote (`MAIL_DIR/*.eml`), newest first, for /dev/mail."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.errors import MessageError
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import anyio.to_thread

# The codes our templates send are six digits; links are whatever http(s) URL the text holds.
CODE = re.compile(r"\b(\d{6})\b")
URL = re.compile(r"https?://[^\s\"'<>]+")
# A folder of a long-running dev server can hold thousands of messages: show the newest.
MAX_MESSAGES = 50


@dataclass(frozen=True)
class DevMail:
    file_name: str
    sent_at: str
    to: str
    subject: str
    text: str
    html: str | None
    codes: tuple[str, ...]
    links: tuple[str, ...]


class DevMailReader:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    async def newest(self, limit: int = MAX_MESSAGES) -> list[DevMail]:
        # File reads and MIME parsing are blocking: off the event loop.
        return await anyio.to_thread.run_sync(self._read, limit)

    def _read(self, limit: int) -> list[DevMail]:
        if not self._directory.is_dir():
            return []
        # The local backend names files by send time (UTC, nanoseconds): names sort in order.
        paths = sorted(self._directory.glob("*.eml"), reverse=True)[:limit]
        found: list[DevMail] = []
        for path in paths:
            mail = _parse(path)
            if mail is not None:
                found.append(mail)
        return found


def _parse(path: Path) -> DevMail | None:
    try:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    except (OSError, MessageError):
        return None  # removed meanwhile, or not ours: skip it rather than fail the page
    if not isinstance(message, EmailMessage):
        return None
    text = _part(message, "plain") or ""
    return DevMail(
        file_name=path.name,
        sent_at=str(message["Date"] or ""),
        to=str(message["To"] or ""),
        subject=str(message["Subject"] or ""),
        text=text,
        html=_part(message, "html"),
        codes=tuple(dict.fromkeys(CODE.findall(text))),
        links=tuple(dict.fromkeys(URL.findall(text))),
    )


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError):
        return None
