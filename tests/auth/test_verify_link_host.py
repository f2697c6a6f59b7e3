"""The emailed verification link signs in the browser that calls the API (issue 11 item 1):
its host is the one the web app calls, so the cookies it sets are sent by the web app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.resources import Resources
from tests.auth.flows import PASSWORD, Mail, new_email
from tests.conftest import build_test_resources
from tests.mailbox import latest_link


@pytest.fixture
async def browser_for(settings: Settings, resources: Resources) -> AsyncIterator[dict[str, object]]:
    """An app built from `settings` plus FRONTEND_URL, and a cookie jar keyed by host."""
    opened: list[httpx.AsyncClient] = []
    apps: list[object] = []

    async def make(frontend: str) -> tuple[httpx.AsyncClient, Settings, Mail]:
        own = settings.model_copy(update={"FRONTEND_URL": frontend})
        own_resources = build_test_resources(own, resources.database)
        app = create_app(own, resources=own_resources)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        apps.append(lifespan)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), headers={"Origin": frontend}
        )
        opened.append(client)
        return client, own, Mail(own.MAIL_DIR, own_resources.database.background)

    yield {"make": make}
    for client in opened:
        await client.aclose()
    for lifespan in apps:
        await lifespan.__aexit__(None, None, None)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("frontend", "api_host"),
    [
        # The defaults: the web app on localhost:5173 calls localhost:8000.
        ("http://localhost:5173", "localhost"),
        ("http://127.0.0.1:5173", "127.0.0.1"),
    ],
)
async def test_emailed_link_opened_on_the_host_the_web_app_calls_signs_it_in(
    browser_for: dict[str, object], frontend: str, api_host: str
) -> None:
    make = browser_for["make"]
    browser, settings, mail = await make(frontend)  # type: ignore[operator]
    api = f"http://{api_host}:{settings.PORT}"
    email = new_email()
    signup = await browser.post(
        f"{api}/api/v1/auth/signup",
        json={"name": "Link Person", "email": email, "password": PASSWORD},
    )
    assert signup.status_code == 200, signup.text
    await mail.code_for(email)
    link = latest_link(settings.MAIL_DIR, email, "/api/v1/auth/verify")
    assert urlsplit(link).netloc == f"{api_host}:{settings.PORT}"

    opened = await browser.get(link)
    assert opened.status_code == 307
    me = await browser.get(f"{api}/api/v1/user/me")
    assert me.status_code == 200, me.text
    assert me.json()["email"] == email
