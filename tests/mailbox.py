"""Read what the local mail adapter wrote: the web app's users find their codes there too."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

CODE = re.compile(r"\b(\d{6})\b")
URL = re.compile(r"https?://[^\s\"'<>]+")


def messages_to(directory: Path, address: str) -> list[EmailMessage]:
    if not directory.exists():
        return []
    found: list[EmailMessage] = []
    for path in sorted(directory.glob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        if address.lower() in str(message["To"]).lower():
            found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def latest_to(directory: Path, address: str) -> EmailMessage:
    found = messages_to(directory, address)
    assert found, f"no mail to {address} in {directory}"
    return found[-1]


def latest_code(directory: Path, address: str) -> str:
    match = CODE.search(text_of(latest_to(directory, address)))
    assert match, "no 6-digit code in the latest mail"
    return match.group(1)


def latest_link(directory: Path, address: str, contains: str) -> str:
    for url in URL.findall(text_of(latest_to(directory, address))):
        if contains in url:
            return str(url)
    raise AssertionError(f"no link containing {contains!r} in the latest mail")
