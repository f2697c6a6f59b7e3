"""The development pages over HTTP: GET / (the playground) and GET /dev/mail are served in
development with their own Content-Security-Policy, absent when switched off (and so in
production), left out of the OpenAPI schema; /dev/mail shows the local backend's mail newest
first with everything the mail says escaped and its HTML in a sandboxed frame."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.core.config import Settings
from app.integrations.email import OutgoingEmail
from app.integrations.email.local import LocalMailbox
from app.main import create_app
from app.resources import Resources
from tests.auth.flows import FRONTEND, Mail, new_email, sign_up, signed_up_and_verified
from tests.conftest import build_test_resources
from tests.core.test_config import SAFE_PROD

HOSTILE = OutgoingEmail(
    to_email="victim@example.com",
    to_name="Victim",
    subject="<script>alert('subject')</script> Your code",
    text="Your code is 482913. Open http://localhost:8000/api/v1/auth/verify?token=abc&x=<b>",
    html=(
        "<p>Code <b>482913</b></p><script>alert('html')</script>"
        '<img src="x" onerror="alert(1)">"\'></iframe><a href="http://localhost/">go</a>'
    ),
)


@pytest.fixture
async def switched_off(
    settings: Settings, resources: Resources
) -> AsyncIterator[httpx.AsyncClient]:
    off = settings.model_copy(update={"PLAYGROUND_ENABLED": False})
    app = create_app(off, resources=build_test_resources(off, resources.database))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


def _paths(app: FastAPI) -> set[str]:
    return {getattr(route, "path", "") for route in app.routes}


async def test_the_playground_is_served_in_development_with_its_own_scripts_only(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    # Nothing from outside: every script and stylesheet is one of ours.
    assert re.findall(r'(?:src|href)="(https?:)?//', page.text) == []
    assert '<script src="/playground/playground.js"' in page.text
    script = await client.get("/playground/playground.js")
    assert script.status_code == 200
    assert 'credentials: "include"' in script.text
    assert '"/auth/refresh"' in script.text
    assert (await client.get("/playground/playground.css")).status_code == 200


async def test_the_playground_moves_to_public_base_url_from_another_loopback_name(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    assert settings.public_base_url == "http://localhost:8000"
    moved = await client.get("http://127.0.0.1:8000/?code=123456")
    assert moved.status_code == 307
    assert moved.headers["location"] == "http://localhost:8000/?code=123456"
    # On its own name, and on a name that is not loopback (a proxy's), it is served.
    assert (await client.get("http://localhost:8000/")).status_code == 200
    assert (await client.get("http://internal-host:8000/")).status_code == 200


async def test_switched_off_the_pages_are_not_found(switched_off: httpx.AsyncClient) -> None:
    for path in ("/", "/dev/mail", "/playground/playground.js"):
        response = await switched_off.get(path)
        assert response.status_code == 404, path
    # The API is still there.
    assert (await switched_off.get("/api/v1/image/styles")).status_code == 200


def test_production_serves_neither_page() -> None:
    settings = Settings(_env_file=None, **SAFE_PROD)  # type: ignore[arg-type]
    assert not settings.PLAYGROUND_ENABLED
    paths = _paths(create_app(settings))
    assert "/" not in paths
    assert "/dev/mail" not in paths
    assert "/playground" not in paths


async def test_the_pages_are_not_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/" not in schema["paths"]
    assert "/dev/mail" not in schema["paths"]


async def test_dev_mail_shows_the_signup_code_newest_first(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    first, second = new_email(), new_email()
    await sign_up(client, first)
    await sign_up(client, second)
    codes = [await mail.code_for(first), await mail.code_for(second)]
    page = await client.get("/dev/mail")
    assert page.status_code == 200
    assert page.text.index(second) < page.text.index(first)
    for code in codes:
        assert f'href="/?code={code}"' in page.text


async def test_dev_mail_escapes_what_a_mail_says_and_sandboxes_its_html(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await LocalMailbox(settings.MAIL_DIR, "no-reply@hairtryon.local", "HairTryOn").send(HOSTILE)
    page = await client.get("/dev/mail")
    assert page.status_code == 200
    body = page.text
    # No markup of the mail's own reaches this page: only our iframe and our links.
    assert "<script>" not in body
    assert "onerror=" not in body.replace("onerror=&quot;", "")
    assert "</iframe><a" not in body
    assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;" in body
    frames = re.findall(r'<iframe [^>]*sandbox="([^"]*)"[^>]*srcdoc="([^"]*)"', body)
    assert len(frames) == 1
    sandbox, srcdoc = frames[0]
    assert "allow-scripts" not in sandbox
    assert "allow-same-origin" not in sandbox
    # The frame gets the mail's HTML exactly, as a document of its own.
    assert unescape(srcdoc).strip() == HOSTILE.html
    # The code and the link are clickable, the link's markup escaped.
    assert 'href="/?code=482913"' in body
    assert 'href="http://localhost:8000/api/v1/auth/verify?token=abc&amp;x="' in body
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # falls back to default-src 'none': no script at all
    assert "frame-ancestors 'none'" in csp


async def test_dev_mail_is_not_found_when_mail_leaves_the_machine(
    settings: Settings, resources: Resources
) -> None:
    brevo = settings.model_copy(
        update={"EMAIL_BACKEND": "brevo", "BREVO_API_KEY": SecretStr("xkeysib-test")}
    )
    app = create_app(brevo, resources=build_test_resources(brevo, resources.database))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        assert (await client.get("/dev/mail")).status_code == 404


async def test_an_empty_mailbox_points_to_the_playground(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    assert not Path(settings.MAIL_DIR).exists()
    page = await client.get("/dev/mail")
    assert page.status_code == 200
    assert "No mail yet" in page.text


async def test_the_local_checkout_can_return_to_a_page_of_this_server(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    started = await client.post("/api/v1/payments/checkout", json={"quantity": 5})
    assert started.status_code == 200, started.text
    url = started.json()["checkout_url"]
    page = await client.get(url, params={"return": "/"})
    assert page.status_code == 200
    assert "/pay?return=%2F" in page.text
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/a b"):
        refused = await client.get(url, params={"return": elsewhere})
        assert refused.status_code == 422, elsewhere
        refused = await client.post(
            f"{url}/pay", params={"return": elsewhere}, headers={"Origin": FRONTEND}
        )
        assert refused.status_code == 422, elsewhere
