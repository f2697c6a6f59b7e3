"""Typed async factories: `await create_user(session, credits=0)`."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User, UserRole


async def create_user(
    session: AsyncSession,
    *,
    email: str | None = None,
    name: str = "Test User",
    credits: int = 3,
    verified: bool = True,
    role: UserRole = UserRole.USER,
    hashed_password: str | None = None,
) -> User:
    user = User(
        email=email or f"user-{uuid.uuid4().hex[:12]}@example.com",
        name=name,
        credits=credits,
        verified=verified,
        role=role,
        hashed_password=hashed_password,
    )
    session.add(user)
    await session.flush()
    return user
