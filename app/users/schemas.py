from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, StringConstraints

from app.core.schemas import InputModel
from app.core.types import PersonName, Text

# Control characters (CR, LF, TAB, NEL, DEL...), line and paragraph separators and lone
# surrogates: a name is one line of text, and it ends up in email headers and logs.
_NOT_IN_NAMES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def without_control_characters(value: str) -> str:
    """For names we did not get from a form (Google's profile): what a form refuses becomes a
    space, and runs of whitespace collapse."""
    spaced = "".join(" " if unicodedata.category(char) in _NOT_IN_NAMES else char for char in value)
    return " ".join(spaced.split())


def _one_line_of_text(value: str) -> str:
    if any(unicodedata.category(char) in _NOT_IN_NAMES for char in value):
        raise ValueError("must not contain control characters or line breaks")
    return value


# The shared PersonName (no NUL, surrogates or C0/C1 controls), and no line or paragraph
# separators either.
Name = Annotated[PersonName, AfterValidator(_one_line_of_text)]


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

    name: Name | None = None
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
