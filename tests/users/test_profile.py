"""The user's own account: /me, profile allow-list (PROP-02), no leaks (PROP-01), deletion."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuthSession, CreditLedgerEntry, User
from tests.auth.flows import PASSWORD, Mail, signed_up_and_verified


async def test_me_has_the_contract_fields_and_nothing_secret(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    body = (await client.get("/api/v1/user/me")).json()
    assert set(body) == {"id", "name", "email", "userpic", "credits", "verified", "created_at"}
    assert body["email"] == email
    assert body["created_at"].endswith(("+00:00", "Z"))


@pytest.mark.parametrize(
    "field", [{"credits": 1000}, {"role": "admin"}, {"verified": False}, {"email": "x@y.z"}]
)
async def test_prop02_profile_update_cannot_touch_privileged_fields(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, field: dict[str, object]
) -> None:
    email = await signed_up_and_verified(client, mail)
    response = await client.put("/api/v1/user/profile", json={"name": "New Name", **field})
    assert response.status_code == 422
    user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    assert (user.credits, user.role, user.verified, user.name) == (3, "user", True, "Ada Lovelace")


async def test_profile_put_and_patch_change_the_name(client: httpx.AsyncClient, mail: Mail) -> None:
    await signed_up_and_verified(client, mail)
    put = await client.put("/api/v1/user/profile", json={"name": "  Grace Hopper "})
    assert put.status_code == 200
    assert put.json()["name"] == "Grace Hopper"
    patch = await client.patch("/api/v1/user/profile", json={"name": "Grace"})
    assert patch.json()["name"] == "Grace"
    too_short = await client.patch("/api/v1/user/profile", json={"name": "G"})
    assert too_short.status_code == 422


async def test_prop01_auth_and_user_answers_leak_no_hash_or_other_users(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    email = await signed_up_and_verified(client, mail)
    answers = [
        await client.get("/api/v1/user/me"),
        await client.put("/api/v1/user/profile", json={"name": "Ada"}),
        await client.get("/api/v1/user/credits/history"),
        await client.post("/api/v1/auth/check-email-status", json={"email": email}),
    ]
    for response in answers:
        assert "$argon2" not in response.text
        assert "hashed_password" not in response.text
        assert "access_token" not in response.text
        assert "secret" not in response.text.lower()


async def test_credit_history_is_paged_and_bounded(client: httpx.AsyncClient, mail: Mail) -> None:
    await signed_up_and_verified(client, mail)
    page = (await client.get("/api/v1/user/credits/history", params={"limit": 1})).json()
    assert page["total"] == 1
    assert page["next_page"] is None
    for bad in ({"limit": 0}, {"limit": 101}, {"page": 0}):
        response = await client.get("/api/v1/user/credits/history", params=bad)
        assert response.status_code == 422


async def test_delete_me_removes_the_account_sessions_and_ledger(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession
) -> None:
    email = await signed_up_and_verified(client, mail)
    user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    user_id = user.id
    assert (await client.delete("/api/v1/user/me")).status_code == 204
    session.expunge_all()
    assert await session.get(User, user_id) is None
    assert (
        await session.scalars(select(AuthSession).where(AuthSession.user_id == user_id))
    ).all() == []
    ledger = await session.scalars(
        select(CreditLedgerEntry).where(CreditLedgerEntry.user_id == user_id)
    )
    assert ledger.all() == []
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 401
