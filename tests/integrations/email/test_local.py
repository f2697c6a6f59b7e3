from __future__ import annotations

import logging
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from app.core.logging import mask_email
from app.integrations.email import EmailDeliveryError, LocalMailbox, OutgoingEmail


def _message(*, to_email: str = "ana@example.com", subject: str = "Your code") -> OutgoingEmail:
    return OutgoingEmail(
        to_email=to_email,
        to_name="Ana Lima",
        subject=subject,
        html="<p>Your code is <b>482913</b></p>",
        text="Your code is 482913",
    )


def _parse(path: Path) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(parsed, EmailMessage)
    return parsed


def _body(mail: EmailMessage, subtype: str) -> str:
    part = mail.get_body(preferencelist=(subtype,))
    assert part is not None
    assert part.get_content_type() == f"text/{subtype}"
    content = part.get_content()
    assert isinstance(content, str)
    return content


async def test_local_mailbox_writes_one_parseable_eml_with_both_parts(tmp_path: Path) -> None:
    mailbox = LocalMailbox(tmp_path / "mail", "no-reply@hairtryon.app", "HairTryOn")

    await mailbox.send(_message())

    files = list((tmp_path / "mail").iterdir())
    assert len(files) == 1
    assert files[0].suffix == ".eml"
    mail = _parse(files[0])
    assert mail["To"] == "Ana Lima <ana@example.com>"
    assert mail["From"] == "HairTryOn <no-reply@hairtryon.app>"
    assert mail["Subject"] == "Your code"
    assert mail["Date"] is not None
    assert mail["Message-ID"].endswith("@hairtryon.app>")
    assert mail.get_content_type() == "multipart/alternative"
    assert _body(mail, "plain").strip() == "Your code is 482913"
    assert _body(mail, "html").strip() == "<p>Your code is <b>482913</b></p>"


async def test_local_mailbox_leaves_no_temporary_files(tmp_path: Path) -> None:
    mailbox = LocalMailbox(tmp_path, "no-reply@hairtryon.app", "HairTryOn")

    await mailbox.send(_message())
    await mailbox.send(_message())

    names = sorted(path.name for path in tmp_path.iterdir())
    assert len(names) == 2
    assert all(name.endswith(".eml") and not name.startswith(".") for name in names)


async def test_local_mailbox_files_are_unique_and_sort_in_send_order(tmp_path: Path) -> None:
    mailbox = LocalMailbox(tmp_path, "no-reply@hairtryon.app", "HairTryOn")
    subjects = [f"message {index}" for index in range(5)]

    for subject in subjects:
        await mailbox.send(_message(subject=subject))

    files = sorted(tmp_path.iterdir())
    assert len(files) == 5
    assert [_parse(path)["Subject"] for path in files] == subjects
    assert len({_parse(path)["Message-ID"] for path in files}) == 5


async def test_local_mailbox_logs_recipient_subject_and_path_but_not_body(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox = LocalMailbox(tmp_path, "no-reply@hairtryon.app", "HairTryOn")

    with caplog.at_level(logging.INFO, logger="app.integrations.email"):
        await mailbox.send(_message())

    (path,) = tmp_path.iterdir()
    records = [r for r in caplog.records if r.name.startswith("app.integrations.email")]
    assert len(records) == 1
    line = records[0].getMessage()
    assert records[0].levelno == logging.INFO
    assert mask_email("ana@example.com") in line
    assert "ana@example.com" not in caplog.text
    assert "Your code" in line
    assert str(path) in line
    assert "482913" not in caplog.text


async def test_local_mailbox_display_name_cannot_inject_headers(tmp_path: Path) -> None:
    mailbox = LocalMailbox(tmp_path, "no-reply@hairtryon.app", "HairTryOn")
    message = OutgoingEmail(
        to_email="ana@example.com",
        to_name="Ana\r\nBcc: victim@example.com",
        subject="Hello",
        html="<p>hi</p>",
        text="hi",
    )

    await mailbox.send(message)

    (path,) = tmp_path.iterdir()
    mail = _parse(path)
    assert mail["Bcc"] is None
    assert mail["To"].addresses[0].addr_spec == "ana@example.com"


async def test_local_mailbox_refuses_malformed_address_as_permanent_failure(
    tmp_path: Path,
) -> None:
    mailbox = LocalMailbox(tmp_path, "no-reply@hairtryon.app", "HairTryOn")

    with pytest.raises(EmailDeliveryError) as caught:
        await mailbox.send(_message(to_email="not-an-address"))

    assert caught.value.retryable is False
    assert list(tmp_path.iterdir()) == []
