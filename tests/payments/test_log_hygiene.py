"""CFG-04: no line written during the auth and payment flows holds a token, cookie, code,
password, secret or email address — checked on what the production handler (JSON, with its
redaction) writes, for every logger, ours and the libraries'."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.auth.cookies import SESSION_COOKIE
from app.core.logging import build_handler
from tests.auth.flows import PASSWORD, Mail, new_email, sign_up
from tests.integrations.payments.fake_dodo import API_KEY, WEBHOOK_SECRET
from tests.mailbox import latest_link
from tests.payments.conftest import Shop

NEW_PASSWORD = "a brand new passphrase"
ANY_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Provider message ids look like addresses and name no one.
MESSAGE_ID = re.compile(r"<[0-9.]+@[A-Za-z0-9.-]+>")


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def text(self) -> str:
        return self.stream.getvalue()

    def assert_clean(self, secrets: list[str]) -> None:
        text = self.text()
        assert text, "nothing was logged: the capture is not attached"
        for secret in secrets:
            assert secret, "an empty secret proves nothing"
            assert secret not in text, f"a log line holds {secret[:12]}…"
        addresses = [m.group(0) for m in ANY_ADDRESS.finditer(MESSAGE_ID.sub("", text))]
        assert addresses == [], addresses


@pytest.fixture
def captured() -> Iterator[Captured]:
    """Requested before the app fixtures, so their setup (a buyer's signup) is captured too."""
    stream = io.StringIO()
    handler = build_handler(json_logs=True, stream=stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield Captured(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _secret_cookies(client: httpx.AsyncClient) -> list[str]:
    """Every cookie value but the session-presence marker's ("1", no secret by design)."""
    return [str(c.value) for c in client.cookies.jar if c.name != SESSION_COOKIE]


async def test_cfg04_auth_flows_log_no_token_cookie_code_password_or_address(
    captured: Captured, client: httpx.AsyncClient, mail: Mail
) -> None:
    email = new_email()
    handle = await sign_up(client, email)
    code = await mail.code_for(email)
    verified = await client.post("/api/v1/auth/verify-signup", json={"token": handle, "code": code})
    assert verified.status_code == 200
    cookies = _secret_cookies(client)
    wrong = await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong one!"})
    assert wrong.status_code == 401
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    access = login.json()["access_token"]
    refreshed = await client.post("/api/v1/auth/refresh")
    assert refreshed.status_code == 200
    cookies += _secret_cookies(client)
    me = await client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200
    assert (
        await client.post("/api/v1/auth/forgot-password", json={"email": email})
    ).status_code == 200
    await mail.background.drain()
    link = latest_link(mail.directory, email, "/reset-password?token=")
    reset_token = parse_qs(urlsplit(link).query)["token"][0]
    body = {"token": reset_token, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    assert (await client.post("/api/v1/auth/reset-password", json=body)).status_code == 200
    # An unknown address and a malformed body: error paths log too.
    await client.post("/api/v1/auth/forgot-password", json={"email": new_email()})
    await client.post("/api/v1/auth/login", json={"email": email})
    await mail.background.drain()

    captured.assert_clean(
        [email, PASSWORD, "wrong one!", NEW_PASSWORD, handle, code, access, reset_token, *cookies]
    )
    assert "hairtryon.access" in captured.text()


async def test_cfg04_payment_flow_logs_no_token_secret_or_address(
    captured: Captured, shop: Shop
) -> None:
    payment_id = await shop.buy(5)
    answer = await shop.deliver(shop.dodo.payment_event(payment_id))
    assert answer.status_code == 200
    forged = await shop.client.post(
        "/api/v1/payments/webhook",
        content=b"{}",
        headers={"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
    )
    assert forged.status_code == 401
    await shop.resources.database.background.drain()
    cookies = _secret_cookies(shop.client)
    buyer_email = shop.dodo.checkout_requests[-1]["customer"]["email"]

    captured.assert_clean([buyer_email, PASSWORD, API_KEY, WEBHOOK_SECRET, *cookies])
    assert "/api/v1/payments/webhook" in captured.text()
