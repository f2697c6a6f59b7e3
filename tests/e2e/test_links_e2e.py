"""Links agree with the server the web app calls (issue 11): the emailed verification link
signs the browser in on the host it calls, and `run.py --port N` puts every link on N."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.auth.flows import FRONTEND, PASSWORD, new_email
from tests.e2e.test_accounts_e2e import _code
from tests.generation.steps import portrait
from tests.live_server import LiveServer, server_env, start_live_server
from tests.mailbox import latest_link

pytestmark = pytest.mark.e2e
FLAG_PORT = 18123


@pytest.fixture(scope="module")
async def flagged_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("port-flag")
    server = await start_live_server(
        server_env(database_url, workdir, PAYMENTS_BACKEND="local"), workdir, port=FLAG_PORT
    )
    try:
        yield server
    finally:
        await server.stop()


async def test_run_py_port_flag_puts_every_link_on_that_port_and_the_link_signs_in(
    flagged_server: LiveServer,
) -> None:
    # What the web app calls with the defaults: http://localhost:<port>.
    api = f"http://localhost:{FLAG_PORT}"
    assert flagged_server.env["PORT"] != str(FLAG_PORT)
    email = new_email()
    # One cookie jar keyed by host, as a browser keeps it.
    async with httpx.AsyncClient(headers={"Origin": FRONTEND}, timeout=60) as browser:
        signup = await browser.post(
            f"{api}/api/v1/auth/signup",
            json={"name": "Port Flag", "email": email, "password": PASSWORD},
        )
        assert signup.status_code == 200, signup.text
        await _code(flagged_server.mail_dir, email)
        link = latest_link(flagged_server.mail_dir, email, "/api/v1/auth/verify")
        assert link.startswith(f"{api}/api/v1/auth/verify?token=")

        opened = await browser.get(link)
        assert opened.status_code == 307
        assert opened.headers["location"] == f"{FRONTEND}/try"
        me = await browser.get(f"{api}/api/v1/user/me")
        assert me.status_code == 200, me.text
        assert me.json()["email"] == email

        presigned = await browser.get(
            f"{api}/api/v1/files/presign", params={"file_type": "image/jpeg"}
        )
        assert presigned.json()["upload_url"].startswith(f"{api}/")
        assert presigned.json()["file_url"].startswith(f"{api}/")
        uploaded = await browser.post(
            f"{api}/api/v1/files/upload",
            files={"file": ("selfie.jpg", portrait(), "image/jpeg")},
        )
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["file_url"].startswith(f"{api}/")

        checkout = await browser.post(f"{api}/api/v1/payments/checkout", json={"quantity": 2})
        assert checkout.status_code == 200, checkout.text
        checkout_url = checkout.json()["checkout_url"]
        assert checkout_url.startswith(f"{api}/api/v1/payments/local-checkout/")
        page = await browser.get(checkout_url)
        assert f'action="{api}/api/v1/payments/local-checkout/' in page.text
        # Paying posts the signed webhook to our own server: it arrives only on the right port.
        paid = await browser.post(f"{checkout_url}/pay")
        assert paid.status_code in {303, 307}, paid.text
        after = await browser.get(f"{api}/api/v1/user/me")
        assert after.json()["credits"] == me.json()["credits"] + 2
