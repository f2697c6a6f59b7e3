"""`python -m app.users.admin_cli EMAIL [--name NAME]` (`make create-admin EMAIL=…`): give an
account the admin role, creating it when no account has that email.

A new account needs a password: typed twice at a terminal, else the first line of stdin
(`printf '%s\\n' "$PASSWORD" | make create-admin EMAIL=…`), at least 12 characters. It is
created verified (the operator vouches for the address) with no credits. An existing account
keeps its password and credits; only its role changes. Nothing secret is printed or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from app.auth.passwords import PasswordHasher
from app.core.config import get_settings
from app.core.db import Database
from app.core.logging import configure_process_logging, mask_email
from app.core.schemas import NormalizedEmail
from app.models import User, UserRole
from app.users.repository import UserRepository

logger = logging.getLogger("hairtryon.admin_cli")
MIN_ADMIN_PASSWORD = 12
_EMAIL = TypeAdapter(NormalizedEmail)


class AdminCliError(Exception):
    """A refusal to show the operator (exit status 2)."""


@dataclass(frozen=True)
class AdminResult:
    user_id: int
    created: bool
    was_admin: bool
    verified: bool


def parse_email(raw: str) -> str:
    try:
        return str(_EMAIL.validate_python(raw))
    except ValidationError:
        raise AdminCliError("EMAIL is not a valid email address") from None


def check_password(password: str) -> str:
    if len(password) < MIN_ADMIN_PASSWORD:
        raise AdminCliError(f"the password must have at least {MIN_ADMIN_PASSWORD} characters")
    if len(password) > 128:
        raise AdminCliError("the password must have at most 128 characters")
    return password


async def make_admin(
    database: Database,
    email: str,
    *,
    name: str,
    password: str | None,
    hasher: PasswordHasher | None = None,
) -> AdminResult:
    """Promote the account with `email`, or create it as an admin with `password`."""
    async with database.unit_of_work() as session:
        users = UserRepository(session)
        user = await users.get_by_email(email)
        if user is not None:
            was_admin = user.is_admin
            user.role = UserRole.ADMIN
            await session.flush()
            return AdminResult(user.id, created=False, was_admin=was_admin, verified=user.verified)
    if password is None:
        raise AdminCliError("no account has this email: a password is needed to create it")
    hashed = await (hasher or PasswordHasher()).hash(check_password(password))
    async with database.unit_of_work() as session:
        created = await UserRepository(session).add_if_email_free(
            User(
                email=email,
                name=name,
                hashed_password=hashed,
                verified=True,
                role=UserRole.ADMIN,
                credits=0,
            )
        )
        if created is None:
            raise AdminCliError("an account with this email was created meanwhile: run again")
        return AdminResult(created.id, created=True, was_admin=False, verified=True)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password for the new admin: ")
        if getpass.getpass("Again: ") != first:
            raise AdminCliError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def _account_exists(database: Database, email: str) -> bool:
    async with database.unit_of_work(write=False) as session:
        return await UserRepository(session).get_by_email(email) is not None


async def _run(email: str, name: str) -> AdminResult:
    settings = get_settings()
    database = Database.from_url(settings.DATABASE_URL)
    try:
        password = None if await _account_exists(database, email) else _read_password()
        return await make_admin(database, email, name=name, password=password)
    finally:
        await database.dispose()


def main(argv: list[str] | None = None) -> int:
    configure_process_logging()
    parser = argparse.ArgumentParser(description="Give an account the admin role.")
    parser.add_argument("email")
    parser.add_argument("--name", default="Administrator", help="for a new account")
    args = parser.parse_args(argv)
    try:
        email = parse_email(args.email)
        result = asyncio.run(_run(email, args.name))
    except AdminCliError as exc:
        logger.error("create-admin refused: %s", exc)
        return 2
    what = "created" if result.created else ("already admin" if result.was_admin else "promoted")
    logger.info(
        "admin account %s: user %d (%s)%s",
        what,
        result.user_id,
        mask_email(email),
        "" if result.verified else "; not verified yet: it must verify its email to log in",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
