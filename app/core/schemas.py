"""Schema building blocks shared by every domain."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, field_validator

T = TypeVar("T")


def _normalise_email(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# Emails are trimmed and lower-cased everywhere they enter (SPEC §1).
NormalizedEmail = Annotated[EmailStr, BeforeValidator(_normalise_email)]


class InputModel(BaseModel):
    """Request bodies: unknown fields are refused, and NUL bytes never reach the database
    (PostgreSQL rejects them with an error that would otherwise be a 500)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_bytes(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    limit: int
    total: int
    next_page: int | None


class PageParams(BaseModel):
    page: int = Field(default=1, ge=1)
    limit: int = Field(default=10, ge=1, le=100)
