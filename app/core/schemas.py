"""Schema building blocks shared by every domain."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, field_validator

from app.core.types import PageLimit, PageNumber, TextBefore, encodable_text

T = TypeVar("T")


def _normalise_email(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# Emails are trimmed and lower-cased everywhere they enter (SPEC §1); the raw text is checked
# first (before validators run last to first), so the email parser never sees a surrogate.
NormalizedEmail = Annotated[EmailStr, BeforeValidator(_normalise_email), TextBefore]


class InputModel(BaseModel):
    """Request bodies: unknown fields are refused. Every field has one of the input types of
    app.core.types; as a net under them, no string field of any body takes a NUL byte
    (PostgreSQL rejects it with an error that would otherwise be a 500) or a lone surrogate."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _encodable_text(cls, value: Any) -> Any:
        return encodable_text(value) if isinstance(value, str) else value


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    limit: int
    total: int
    next_page: int | None


class PageParams(BaseModel):
    page: PageNumber = 1
    limit: PageLimit = 10
