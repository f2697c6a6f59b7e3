"""Password reset: generic answers, single use, and every session ended (AUTH-05)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Message, Receive, Scope, Send

from tests.auth.flows import FRONTEND, PASSWORD, Mail, new_email, signed_up_and_verified
from tests.mailbox import latest_link, messages_to

NEW_PASSWORD = "a brand new passphrase"


async def _reset_token(client: httpx.AsyncClient, mail: Mail, email: str) -> str:
    response = await client.post("/api/v1/auth/forgot-password", json={"email": email})
    assert response.status_code == 200
    await mail.background.drain()
    link = latest_link(mail.directory, email, "/reset-password?token=")
    assert link.startswith(f"{FRONTEND}/reset-password?token=")
    return parse_qs(urlsplit(link).query)["token"][0]


async def test_forgot_password_answers_the_same_for_unknown_emails(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    known = await client.post("/api/v1/auth/forgot-password", json={"email": email})
    unknown_email = new_email()
    unknown = await client.post("/api/v1/auth/forgot-password", json={"email": unknown_email})
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json()
    await mail.background.drain()
    assert messages_to(mail.directory, unknown_email) == []


async def test_auth05_reset_is_single_use_and_ends_every_session(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    old_refresh = client.cookies.get("refresh_token", path="/api/v1/auth")
    second = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    second_access = second.json()["access_token"]
    token = await _reset_token(client, mail, email)

    check = await client.post("/api/v1/auth/verify-reset-token", json={"token": token})
    assert check.json() == {"valid": True}
    body = {"token": token, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    assert (await client.post("/api/v1/auth/reset-password", json=body)).status_code == 200

    again = await client.post("/api/v1/auth/reset-password", json=body)
    assert again.status_code == 400
    assert again.json()["detail"]["code"] == "INVALID_TOKEN"
    recheck = await client.post("/api/v1/auth/verify-reset-token", json={"token": token})
    assert recheck.status_code == 400

    # Every session of the user is gone: cookies, the second login, the old refresh token.
    assert (await client.get("/api/v1/user/me")).status_code == 401
    bearer = {"Authorization": f"Bearer {second_access}"}
    assert (await client.get("/api/v1/user/me", headers=bearer)).status_code == 401
    replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": old_refresh})
    assert replay.status_code == 401

    old = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    new = await client.post("/api/v1/auth/login", json={"email": email, "password": NEW_PASSWORD})
    assert new.status_code == 200


async def test_reset_password_confirmation_must_match(client: httpx.AsyncClient) -> None:
    body = {"token": "x", "new_password": NEW_PASSWORD, "confirm_password": "something else"}
    response = await client.post("/api/v1/auth/reset-password", json=body)
    assert response.status_code == 422


async def test_auth03_reset_token_is_not_an_access_token(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    token = await _reset_token(client, mail, email)
    client.cookies.clear()
    response = await client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


@contextmanager
def _recorded_statements(engine: AsyncEngine, events: list[str]) -> Iterator[None]:
    def record(*args: Any) -> None:
        sql = " ".join(str(args[2]).split()).upper()
        events.append(re.sub(r"SA_SAVEPOINT_\d+", "SA_SAVEPOINT_N", sql))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def _answering_client(app: FastAPI, events: list[str]) -> httpx.AsyncClient:
    """The app, with the moment it starts answering written into the same event list."""

    async def noting_the_answer(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                events.append("-- RESPONSE --")
            await send(message)

        await app(scope, receive, send_and_note)

    transport = httpx.ASGITransport(app=noting_the_answer)
    return httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND}
    )


async def test_forgot_password_does_the_same_work_for_known_and_unknown_emails_before_answering(
    app: FastAPI, client: httpx.AsyncClient, mail: Mail, engine: AsyncEngine
) -> None:
    """Timing (issue 9, 7c), by what happens before the answer rather than by a clock: the
    account lookup, the reset challenge and the mail all come after the response has started,
    so a known and an unknown email are answered after the very same work."""
    email = await signed_up_and_verified(client, mail)
    await mail.background.drain()
    mails_before = len(messages_to(mail.directory, email))

    runs: dict[str, list[str]] = {}
    for label, address in (("known", email), ("unknown", new_email())):
        events: list[str] = []
        async with _answering_client(app, events) as browser:
            with _recorded_statements(engine, events):
                answer = await browser.post("/api/v1/auth/forgot-password", json={"email": address})
                assert answer.status_code == 200
                await mail.background.drain()
        runs[label] = events

    def before_answer(events: list[str]) -> list[str]:
        return events[: events.index("-- RESPONSE --")]

    assert before_answer(runs["known"]) == before_answer(runs["unknown"])
    assert not any(
        "USERS" in sql or "AUTH_CHALLENGES" in sql for sql in before_answer(runs["known"])
    )
    after_known = runs["known"][runs["known"].index("-- RESPONSE --") :]
    assert any(sql.startswith("SELECT") and "FROM USERS" in sql for sql in after_known)
    assert any(sql.startswith("INSERT INTO AUTH_CHALLENGES") for sql in after_known)
    after_unknown = runs["unknown"][runs["unknown"].index("-- RESPONSE --") :]
    assert any(sql.startswith("SELECT") and "FROM USERS" in sql for sql in after_unknown)
    assert not any(sql.startswith("INSERT INTO AUTH_CHALLENGES") for sql in after_unknown)
    assert len(messages_to(mail.directory, email)) == mails_before + 1
