"""Sign-up and email verification, as the web app does them (SPEC §1)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CreditLedgerEntry, User
from tests.auth.flows import FRONTEND, PASSWORD, Mail, new_email, sign_up
from tests.mailbox import latest_link, latest_to, messages_to, text_of


async def test_signup_code_from_mail_verifies_and_signs_in(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = new_email()
    response = await client.post(
        "/api/v1/auth/signup",
        json={"name": "  Ada Lovelace ", "email": f"  {email.upper()} ", "password": PASSWORD},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == email
    assert body["name"] == "Ada Lovelace"
    assert body["verified"] is False
    code = await mail.code_for(email)
    assert code not in response.text

    verified = await client.post(
        "/api/v1/auth/verify-signup", json={"token": body["verify_token"], "code": code}
    )
    assert verified.status_code == 200
    assert verified.json() == {"verified": True}
    assert {"access_token", "refresh_token"} <= set(verified.cookies)

    me = await client.get("/api/v1/user/me")
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert me.json()["verified"] is True


async def test_session_cookies_are_httponly_and_lax_on_localhost(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    handle = await sign_up(client, email := new_email())
    code = await mail.code_for(email)
    response = await client.post("/api/v1/auth/verify-signup", json={"token": handle, "code": code})
    set_cookies = response.headers.get_list("set-cookie")
    # access_token, refresh_token and the secret-less has_session marker.
    assert len(set_cookies) == 3
    for header in set_cookies:
        lowered = header.lower()
        assert "httponly" in lowered
        assert "samesite=lax" in lowered
        # FRONTEND_URL is http://localhost: a Secure cookie would never be sent back.
        assert "secure" not in lowered
    refresh = next(h for h in set_cookies if h.startswith("refresh_token="))
    assert "Path=/api/v1/auth" in refresh
    marker = next(h for h in set_cookies if h.startswith("has_session="))
    assert marker.startswith("has_session=1;")
    assert "Path=/;" in marker


async def test_verify_link_redirects_to_try_with_cookies(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await sign_up(client, email := new_email())
    await mail.code_for(email)
    link = latest_link(mail.directory, email, "/api/v1/auth/verify?token=")
    token = parse_qs(urlsplit(link).query)["token"][0]
    response = await client.get("/api/v1/auth/verify", params={"token": token})
    assert response.status_code == 307
    assert response.headers["location"] == f"{FRONTEND}/try"
    assert "access_token" in response.cookies
    again = await client.get("/api/v1/auth/verify", params={"token": token})
    assert again.status_code == 307
    assert again.headers["location"].startswith(f"{FRONTEND}/try?error=")


async def test_verify_link_answers_json_when_asked(client: httpx.AsyncClient, mail: Mail) -> None:
    await sign_up(client, email := new_email())
    await mail.code_for(email)
    link = latest_link(mail.directory, email, "/api/v1/auth/verify?token=")
    token = parse_qs(urlsplit(link).query)["token"][0]
    headers = {"Accept": "application/json"}
    response = await client.get("/api/v1/auth/verify", params={"token": token}, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"verified": True}
    bad = await client.get("/api/v1/auth/verify", params={"token": "nope"}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["detail"]["code"] == "INVALID_TOKEN"


async def test_signup_with_a_verified_email_is_409_email_taken(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    handle = await sign_up(client, email := new_email())
    await client.post(
        "/api/v1/auth/verify-signup", json={"token": handle, "code": await mail.code_for(email)}
    )
    again = await client.post(
        "/api/v1/auth/signup", json={"name": "Other", "email": email, "password": PASSWORD}
    )
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "EMAIL_TAKEN"


async def test_auth01_signup_ignores_privileged_fields(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    email = new_email()
    response = await client.post(
        "/api/v1/auth/signup",
        json={
            "name": "Mallory",
            "email": email,
            "password": PASSWORD,
            "credits": 9999,
            "role": "admin",
            "verified": True,
        },
    )
    assert response.status_code == 422
    user = await session.scalar(select(User).where(User.email == email))
    assert user is None


async def test_verification_grants_the_free_credits_once_through_the_ledger(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession
) -> None:
    handle = await sign_up(client, email := new_email())
    code = await mail.code_for(email)
    await client.post("/api/v1/auth/verify-signup", json={"token": handle, "code": code})
    assert (await client.get("/api/v1/user/credits")).json() == 3
    user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    ledger_sum = await session.scalar(
        select(func.sum(CreditLedgerEntry.delta)).where(CreditLedgerEntry.user_id == user.id)
    )
    assert ledger_sum == 3
    history = (await client.get("/api/v1/user/credits/history")).json()
    assert [e["reason"] for e in history["entries"]] == ["signup_bonus"]
    assert history["entries"][0]["balance_after"] == 3


async def test_wrong_codes_count_and_lock_the_handle_after_five(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    handle = await sign_up(client, email := new_email())
    code = await mail.code_for(email)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        response = await client.post(
            "/api/v1/auth/verify-signup", json={"token": handle, "code": wrong}
        )
        assert response.json()["detail"]["code"] == "INVALID_CODE"
    locked = await client.post("/api/v1/auth/verify-signup", json={"token": handle, "code": code})
    assert locked.status_code == 429
    assert locked.json()["detail"]["code"] == "TOO_MANY_ATTEMPTS"
    valid = await client.post("/api/v1/auth/verify-code-token", json={"token": handle})
    assert valid.json() == {"valid": False}


async def test_resend_replaces_the_old_code(client: httpx.AsyncClient, mail: Mail) -> None:
    old_handle = await sign_up(client, email := new_email())
    old_code = await mail.code_for(email)
    response = await client.post("/api/v1/auth/request-signup-token", json={"email": email})
    assert response.status_code == 200
    new_handle = response.json()["token"]
    new_code = await mail.code_for(email)
    assert len(messages_to(mail.directory, email)) == 2
    stale = await client.post(
        "/api/v1/auth/verify-signup", json={"token": old_handle, "code": old_code}
    )
    assert stale.status_code == 400
    fresh = await client.post(
        "/api/v1/auth/verify-signup", json={"token": new_handle, "code": new_code}
    )
    assert fresh.status_code == 200
    after = await client.post("/api/v1/auth/request-signup-token", json={"email": email})
    assert after.json()["detail"]["code"] == "ALREADY_VERIFIED"


async def test_check_email_status(client: httpx.AsyncClient) -> None:
    await sign_up(client, email := new_email())
    response = await client.post("/api/v1/auth/check-email-status", json={"email": email})
    assert response.json() == {"verified": False}
    unknown = await client.post("/api/v1/auth/check-email-status", json={"email": new_email()})
    assert unknown.status_code == 404
    assert unknown.json()["detail"]["code"] == "USER_NOT_FOUND"


async def test_verification_and_welcome_emails_are_sent(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    handle = await sign_up(client, email := new_email())
    code = await mail.code_for(email)
    assert "verify" in text_of(latest_to(mail.directory, email)).lower()
    await client.post("/api/v1/auth/verify-signup", json={"token": handle, "code": code})
    await mail.background.drain()
    assert "welcome" in str(latest_to(mail.directory, email)["Subject"]).lower()


async def test_nul_bytes_in_input_are_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/signup",
        json={"name": "Nul\u0000Byte", "email": new_email(), "password": PASSWORD},
    )
    assert response.status_code == 422
