"""`make create-admin EMAIL=…` (`python -m app.users.admin_cli`): promotes an account, or
creates a verified admin with a password of at least 12 characters; prints no secret."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import PROJECT_ROOT
from app.core.db import Database
from app.core.logging import mask_email
from app.models import User, UserRole
from app.users.admin_cli import AdminCliError, make_admin, parse_email
from tests.factories import create_user

ADMIN_PASSWORD = "a long admin passphrase"


async def test_an_existing_account_is_promoted_keeping_password_and_credits(
    resources_database: Database, session: AsyncSession
) -> None:
    user = await create_user(session, credits=7, hashed_password="kept")
    await session.commit()

    result = await make_admin(resources_database, user.email, name="x", password=None)

    await session.refresh(user)
    assert (result.user_id, result.created, result.was_admin) == (user.id, False, False)
    assert user.role == UserRole.ADMIN
    assert (user.credits, user.hashed_password) == (7, "kept")


async def test_a_new_admin_is_created_verified_and_can_log_in(
    resources_database: Database, session: AsyncSession, client: httpx.AsyncClient
) -> None:
    email = f"ops-{uuid.uuid4().hex[:8]}@hairtryon.app"
    result = await make_admin(
        resources_database, parse_email(f"  {email.upper()} "), name="Ops", password=ADMIN_PASSWORD
    )
    assert result.created
    user = await session.get(User, result.user_id)
    assert user is not None
    assert (user.email, user.role, user.verified, user.credits) == (email, "admin", True, 0)
    login = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 200, login.text


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-address", ADMIN_PASSWORD, "valid email"),
        ("new-admin@hairtryon.app", "short", "at least 12"),
        ("new-admin@hairtryon.app", None, "password is needed"),
    ],
)
async def test_refusals_name_the_problem(
    resources_database: Database, email: str, password: str | None, message: str
) -> None:
    with pytest.raises(AdminCliError, match=message):
        await make_admin(resources_database, parse_email(email), name="x", password=password)


def test_the_command_creates_an_admin_from_stdin_and_prints_no_secret(
    database_url: str, tmp_path: Path
) -> None:
    email = f"cli-{uuid.uuid4().hex[:8]}@hairtryon.app"
    env = {
        **{k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}},
        "PYTHONPATH": str(PROJECT_ROOT),
        "DATABASE_URL": database_url,
        "PYTHONWARNINGS": "ignore",
    }
    result = subprocess.run(
        [sys.executable, "-m", "app.users.admin_cli", email],
        input=ADMIN_PASSWORD + "\n",
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "admin account created" in output
    assert mask_email(email) in output
    assert email not in output
    assert ADMIN_PASSWORD not in output
    again = subprocess.run(
        [sys.executable, "-m", "app.users.admin_cli", email],
        input="",
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "already admin" in again.stdout + again.stderr
