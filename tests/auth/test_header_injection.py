"""Names reach email headers: control characters are refused at the door, and the local mail
adapter builds headers so that no name, however encoded, can add a header (issue 9, 7c)."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import httpx
import pytest

from app.integrations.email.local import LocalMailbox
from app.integrations.email.port import OutgoingEmail
from tests.auth.flows import PASSWORD, Mail, new_email, signed_up_and_verified
from tests.mailbox import messages_to

# An RFC 2047 encoded word that decodes to CR LF "Bcc: ...": no control character in the text.
ENCODED_CRLF_BCC = "=?utf-8?q?Ada=0D=0ABcc:_evil@attacker.example?="
CONTROL_NAMES = [
    "Ada\r\nBcc: evil@attacker.example",
    "Ada\nLovelace",
    "Ada\tLovelace",
    "Ada\x07Lovelace",
    "Ada\x85Lovelace",
    "Ada\u2028Lovelace",
    "Ada\x7fLovelace",
]


@pytest.mark.parametrize("name", CONTROL_NAMES)
async def test_signup_name_with_control_characters_is_422(
    client: httpx.AsyncClient, name: str
) -> None:
    response = await client.post(
        "/api/v1/auth/signup", json={"name": name, "email": new_email(), "password": PASSWORD}
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("name", CONTROL_NAMES)
async def test_profile_name_with_control_characters_is_422(
    client: httpx.AsyncClient, mail: Mail, name: str
) -> None:
    await signed_up_and_verified(client, mail)
    response = await client.put("/api/v1/user/profile", json={"name": name})
    assert response.status_code == 422, response.text
    assert (await client.get("/api/v1/user/me")).json()["name"] == "Ada Lovelace"


async def test_encoded_crlf_bcc_in_a_signup_name_never_yields_a_bcc_header(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = new_email()
    response = await client.post(
        "/api/v1/auth/signup",
        json={"name": ENCODED_CRLF_BCC, "email": email, "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    await mail.background.drain()
    [message] = messages_to(mail.directory, email)
    assert "Bcc" not in message
    assert message.get_all("To") is not None
    assert len(message.get_all("To") or []) == 1
    assert [a.addr_spec for a in message["To"].addresses] == [email]
    assert "attacker.example" not in "".join(f"{k}: {v}" for k, v in message.items() if k != "To")


@pytest.mark.parametrize(
    "name",
    [
        ENCODED_CRLF_BCC,
        "Ada\r\nBcc: evil@attacker.example",
        "=?utf-8?b?QWRhDQpCY2M6IGV2aWxAYXR0YWNrZXIuZXhhbXBsZQ==?=",
        '"=?utf-8?q?x=0D=0ABcc:_evil@attacker.example?=" <x@y>',
    ],
)
async def test_local_mailbox_headers_cannot_be_injected_through_the_name(
    tmp_path: Path, name: str
) -> None:
    """Even a name that got past validation cannot add a header."""
    mailbox = LocalMailbox(tmp_path, "noreply@hairtryon.example", name)
    await mailbox.send(
        OutgoingEmail(
            to_email="victim@example.com", to_name=name, subject="Hello", html="<p>x</p>", text="x"
        )
    )
    [path] = tmp_path.glob("*.eml")
    raw = path.read_bytes()
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert "Bcc" not in message
    assert b"\nBcc:" not in raw
    assert sorted(message.keys()) == sorted(
        ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"]
    )
    assert [a.addr_spec for a in message["To"].addresses] == ["victim@example.com"]
