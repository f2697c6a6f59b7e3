from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from app.core.schemas import InputModel
from app.core.types import PersonName, Text


class UserRead(BaseModel):
    id: int
    name: str
    email: str
    userpic: str | None
    credits: int
    verified: bool
    created_at: datetime


class ProfileUpdate(InputModel):
    """Only these fields can change through the profile (PROP-02)."""

    name: PersonName | None = None
    # An upload of yours (from /files/presign or /files/upload) to use as the picture.
    userpic_key: Annotated[Text, StringConstraints(min_length=1, max_length=1024)] | None = None


class CreditEntryRead(BaseModel):
    id: int
    delta: int
    reason: str
    reference_type: str | None
    reference_id: str | None
    balance_after: int
    created_at: datetime


class CreditHistoryRead(BaseModel):
    entries: list[CreditEntryRead]
    page: int
    limit: int
    next_page: int | None
    total: int
