"""Typed async factories: `await create_user(session, credits=0)`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Image, ImageStatus, User, UserRole


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


async def create_image(
    session: AsyncSession, *, user_id: int, status: ImageStatus = ImageStatus.PENDING
) -> Image:
    """An image row as start_generation writes it, without its charge (the caller decides)."""
    image = Image(
        user_id=user_id,
        style_name="Factory Bob",
        description="",
        input_key=f"uploads/user_{user_id}/factory.jpg",
        status=status,
        deadline_at=datetime.now(UTC) + timedelta(minutes=5),
    )
    session.add(image)
    await session.flush()
    return image
