"""AUTH-13: a signup on an address nobody has proven yet never changes the credentials the
mailbox owner confirms. Each signup is its own pending registration; redeeming its code or
link activates that signup's name and password, and the other pending ones expire."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.auth.flows import Mail, new_email
from tests.mailbox import CODE, URL, messages_to, text_of

OWNER_PASSWORD = "owner's own passphrase"
ATTACKER_PASSWORD = "attacker passphrase!"


async def _sign_up(client: httpx.AsyncClient, email: str, name: str, password: str) -> str:
    response = await client.post(
        "/api/v1/auth/signup", json={"name": name, "email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == name
    assert body["verified"] is False
    return str(body["verify_token"])


async def _nth_mail(mail: Mail, email: str, index: int) -> tuple[str, str]:
    """The code and the verify-link token of the index-th mail to `email`."""
    await mail.background.drain()
    text = text_of(messages_to(mail.directory, email)[index])
    code = CODE.search(text)
    assert code is not None
    link = next(url for url in URL.findall(text) if "/api/v1/auth/verify?token=" in url)
    return code.group(1), parse_qs(urlsplit(link).query)["token"][0]


async def _login_status(client: httpx.AsyncClient, email: str, password: str) -> int:
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return response.status_code


async def _verify(client: httpx.AsyncClient, handle: str, code: str) -> httpx.Response:
    return await client.post("/api/v1/auth/verify-signup", json={"token": handle, "code": code})


async def test_auth13_second_signup_cannot_take_over_pending_account(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = new_email()
    owner_handle = await _sign_up(client, email, "Ada Lovelace", OWNER_PASSWORD)
    attacker_handle = await _sign_up(client, email, "Mallory", ATTACKER_PASSWORD)
    attacker_code, _ = await _nth_mail(mail, email, 1)
    # The owner asks for a fresh mail for their own signup and redeems the newest one.
    resent = await client.post(
        "/api/v1/auth/request-signup-token", json={"email": email, "token": owner_handle}
    )
    assert resent.status_code == 200
    newest_code, _ = await _nth_mail(mail, email, -1)
    assert len(messages_to(mail.directory, email)) == 3

    verified = await _verify(client, resent.json()["token"], newest_code)
    assert verified.status_code == 200, verified.text
    me = await client.get("/api/v1/user/me")
    assert me.json()["name"] == "Ada Lovelace"

    assert await _login_status(client, email, OWNER_PASSWORD) == 200
    assert await _login_status(client, email, ATTACKER_PASSWORD) == 401
    # The other pending registration expired with the verification.
    late = await _verify(client, attacker_handle, attacker_code)
    assert late.status_code == 400
    assert await _login_status(client, email, ATTACKER_PASSWORD) == 401


async def test_auth13_owner_code_of_the_first_signup_still_works_after_a_second_signup(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = new_email()
    owner_handle = await _sign_up(client, email, "Ada Lovelace", OWNER_PASSWORD)
    await _sign_up(client, email, "Mallory", ATTACKER_PASSWORD)
    owner_code, _ = await _nth_mail(mail, email, 0)
    verified = await _verify(client, owner_handle, owner_code)
    assert verified.status_code == 200, verified.text
    assert await _login_status(client, email, OWNER_PASSWORD) == 200
    assert await _login_status(client, email, ATTACKER_PASSWORD) == 401


async def test_auth13_owner_link_of_the_first_signup_activates_the_first_password(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = new_email()
    await _sign_up(client, email, "Ada Lovelace", OWNER_PASSWORD)
    await _sign_up(client, email, "Mallory", ATTACKER_PASSWORD)
    _, owner_link = await _nth_mail(mail, email, 0)
    _, attacker_link = await _nth_mail(mail, email, 1)
    opened = await client.get("/api/v1/auth/verify", params={"token": owner_link})
    assert opened.status_code == 307
    assert "error" not in opened.headers["location"]
    assert await _login_status(client, email, OWNER_PASSWORD) == 200
    assert await _login_status(client, email, ATTACKER_PASSWORD) == 401
    stale = await client.get("/api/v1/auth/verify", params={"token": attacker_link})
    assert "error=" in stale.headers["location"]
    assert await _login_status(client, email, ATTACKER_PASSWORD) == 401


async def test_auth13_redeeming_the_second_signup_activates_its_credentials_only(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = new_email()
    first_handle = await _sign_up(client, email, "First Person", OWNER_PASSWORD)
    second_handle = await _sign_up(client, email, "Second Person", ATTACKER_PASSWORD)
    first_code, _ = await _nth_mail(mail, email, 0)
    second_code, _ = await _nth_mail(mail, email, 1)
    # A handle only opens with its own signup's code.
    if first_code != second_code:
        crossed = await _verify(client, second_handle, first_code)
        assert crossed.json()["detail"]["code"] == "INVALID_CODE"

    verified = await _verify(client, second_handle, second_code)
    assert verified.status_code == 200, verified.text
    assert (await client.get("/api/v1/user/me")).json()["name"] == "Second Person"
    assert await _login_status(client, email, ATTACKER_PASSWORD) == 200
    assert await _login_status(client, email, OWNER_PASSWORD) == 401
    stale = await _verify(client, first_handle, first_code)
    assert stale.status_code == 400
    assert await _login_status(client, email, OWNER_PASSWORD) == 401


async def test_auth13_resend_without_a_handle_keeps_the_newest_signups_credentials(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    """Clients that send only the email get a new mail for the newest signup, carrying that
    signup's credentials (never a mix, never a change to the stored ones)."""
    email = new_email()
    await _sign_up(client, email, "Only Person", OWNER_PASSWORD)
    resent = await client.post("/api/v1/auth/request-signup-token", json={"email": email})
    assert resent.status_code == 200
    code, _ = await _nth_mail(mail, email, -1)
    assert (await _verify(client, resent.json()["token"], code)).status_code == 200
    assert await _login_status(client, email, OWNER_PASSWORD) == 200
