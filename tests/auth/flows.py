"""The web app's flows as reusable steps for the tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.core.background import BackgroundTasks
from tests.mailbox import latest_code

FRONTEND = "http://localhost:5173"
SPA_HEADERS = {"Origin": FRONTEND}
PASSWORD = "correct horse battery"


@dataclass
class Mail:
    directory: Path
    background: BackgroundTasks

    async def code_for(self, email: str) -> str:
        await self.background.drain()
        return latest_code(self.directory, email)


def new_email() -> str:
    return f"person-{uuid.uuid4().hex[:10]}@example.com"


async def sign_up(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post(
        "/api/v1/auth/signup", json={"name": "Ada Lovelace", "email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["verify_token"])


async def signed_up_and_verified(
    client: httpx.AsyncClient, mail: Mail, email: str | None = None, password: str = PASSWORD
) -> str:
    """Signs up and verifies; the client then holds the session cookies."""
    email = email or new_email()
    handle = await sign_up(client, email, password)
    code = await mail.code_for(email)
    response = await client.post("/api/v1/auth/verify-signup", json={"token": handle, "code": code})
    assert response.status_code == 200, response.text
    return email


async def bearer_login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
