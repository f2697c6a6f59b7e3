"""Reusable column and schema types."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError
from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Request input types: every field, path, query and header parameter is one of these (IN-01/02).
# Python strings can hold what no database or encoder accepts: NUL (PostgreSQL refuses it),
# lone surrogates (UTF-8 cannot encode them) and control characters (they break headers and
# logs). Integers are unbounded in Python but int64 in both databases.

INT64_MAX = 2**63 - 1
# Bounds are written as powers of two: FastAPI's OpenAPI models hold them as floats, and only
# these survive that exactly (2**63 - 1 would read as 2**63, one more than a column holds).
INT64_END = 2**63
PAGE_LIMIT_MAX = 100
# Pages whose offset (page - 1) * limit still fits in int64: beyond, the query would overflow.
PAGE_MAX = 2**56

# C0 and C1 control characters and DEL (Unicode category Cc), and the surrogate range; regular
# expressions on the escapes, so this file holds no raw control characters.
_SURROGATES = r"\ud800-\udfff"
_SINGLE_LINE_BAD = re.compile(rf"[\x00-\x1f\x7f-\x9f{_SURROGATES}]")
# The same without \t (\x09) and \n (\x0a).
_MULTILINE_BAD = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_SURROGATES}]")
_SECRET_BAD = re.compile(rf"[\x00{_SURROGATES}]")


def _check(value: str, bad: re.Pattern[str]) -> str:
    found = bad.search(value)
    if found is None:
        return value
    char = found.group()
    if char == "\x00":
        message = "must not contain NUL characters"
    elif "\ud800" <= char <= "\udfff":
        message = "must not contain unpaired surrogates"
    else:
        message = "must not contain control characters"
    raise PydanticCustomError("text_invalid", message)


def single_line_text(value: str) -> str:
    return _check(value, _SINGLE_LINE_BAD)


def multiline_text(value: str) -> str:
    return _check(value, _MULTILINE_BAD)


def encodable_text(value: str) -> str:
    return _check(value, _SECRET_BAD)


def _text_before(value: Any) -> Any:
    # For types whose own validator runs first (emails): check the raw string before it.
    return single_line_text(value) if isinstance(value, str) else value


# One line of text: no NUL, surrogates or control characters (names, tokens, keys, URLs).
Text = Annotated[str, AfterValidator(single_line_text)]
# Text that may span lines: \n and \t allowed, other control characters not.
MultilineText = Annotated[str, AfterValidator(multiline_text)]
# Passwords: any character a UTF-8 encoder can carry except NUL. Control characters stay
# allowed so that no password accepted at signup before this check stops working at login.
SecretText = Annotated[str, AfterValidator(encodable_text)]
# A raw string checked before a stricter parser sees it (see NormalizedEmail).
TextBefore = BeforeValidator(_text_before)

# Database ids: positive and within int64 (an id beyond it cannot exist: 422, not a 500).
Id = Annotated[int, Field(ge=1, lt=INT64_END)]
# Non-negative counters.
Count = Annotated[int, Field(ge=0, lt=INT64_END)]
PageNumber = Annotated[int, Field(ge=1, le=PAGE_MAX)]
PageLimit = Annotated[int, Field(ge=1, le=PAGE_LIMIT_MAX)]

# A person's name (signup, profile): it goes into mail headers and greetings.
PersonName = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=2, max_length=50)]


def storable(value: Any) -> bool:
    """True when a parsed JSON value holds nothing a column refuses: every string (keys too)
    without NUL or lone surrogates, every integer within int64. For payloads that arrive
    signed (webhooks), where refusing with a 4xx would only make the sender retry."""
    if isinstance(value, str):
        return _SECRET_BAD.search(value) is None
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return True
    if isinstance(value, int):
        return -INT64_MAX - 1 <= value <= INT64_MAX
    if isinstance(value, list):
        return all(storable(item) for item in value)
    if isinstance(value, dict):
        return all(storable(key) and storable(item) for key, item in value.items())
    return False
