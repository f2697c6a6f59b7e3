"""Schema building blocks shared by every domain."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Generic, TypeVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    ValidationInfo,
    field_validator,
)

from app.core.types import PageLimit, PageNumber, TextBefore, encodable_text

T = TypeVar("T")


def _normalise_email(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# Emails are trimmed and lower-cased everywhere they enter (SPEC §1); the raw text is checked
# first (before validators run last to first), so the email parser never sees a surrogate.
NormalizedEmail = Annotated[EmailStr, BeforeValidator(_normalise_email), TextBefore]


def _takes_bool(annotation: Any) -> bool:
    return annotation is bool or any(_takes_bool(arg) for arg in get_args(annotation))


@cache
def _refuses_bool(model: type[BaseModel], field_name: str) -> bool:
    return not _takes_bool(model.model_fields[field_name].annotation)


class InputModel(BaseModel):
    """Request bodies: unknown fields are refused. Every field has one of the input types of
    app.core.types; as a net under them, no string field of any body takes a NUL byte
    (PostgreSQL rejects it with an error that would otherwise be a 500) or a lone surrogate,
    and no number field takes `true`/`false` (Pydantic's lax mode reads them as 1 and 0: a
    checkout of one credit, a one-hour share link, where the client sent the wrong field)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _clean_input(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            return encodable_text(value)
        if isinstance(value, bool) and info.field_name and _refuses_bool(cls, info.field_name):
            raise ValueError("must be a number, not true or false")
        return value


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    limit: int
    total: int
    next_page: int | None


class PageParams(BaseModel):
    page: PageNumber = 1
    limit: PageLimit = 10
