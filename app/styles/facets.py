"""The catalogue's facets (SPEC §4a) as an admin types them: checked and normalised before a
style is saved, so the API's filters and the database's CHECK constraints always agree."""

from __future__ import annotations

import re
from typing import Any, get_args

from app.styles.schemas import TAG_PATTERN, Gender, Length

GENDERS: tuple[str, ...] = get_args(Gender)
LENGTHS: tuple[str, ...] = get_args(Length)
MAX_TAGS = 8
MAX_TAGS_CHARS = 300  # the column's size
_TAG = re.compile(TAG_PATTERN)


def clean_tags(raw: object) -> str:
    """Comma- or space-separated tags → "a,b,c": lower-case slugs, duplicates dropped, order
    kept. Raises ValueError naming the first tag that is not a slug."""
    text = raw if isinstance(raw, str) else ""
    tags: list[str] = []
    for part in re.split(r"[,\s]+", text.strip().lower()):
        if not part:
            continue
        if not _TAG.fullmatch(part):
            raise ValueError(
                f"tag {part[:30]!r}: use lower-case letters, digits and hyphens, at most 24"
            )
        if part not in tags:
            tags.append(part)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    joined = ",".join(tags)
    if len(joined) > MAX_TAGS_CHARS:
        raise ValueError("the tags are too long")
    return joined


def clean_facets(data: dict[str, Any]) -> None:
    """`gender` (empty → unisex), `length` (required: a facet clients filter on) and `tags`,
    checked and normalised in place."""
    gender = str(data.get("gender") or "").strip().lower() or "unisex"
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {', '.join(GENDERS)}")
    length = str(data.get("length") or "").strip().lower()
    if length not in LENGTHS:
        raise ValueError(f"length must be one of {', '.join(LENGTHS)}")
    data.update(gender=gender, length=length, tags=clean_tags(data.get("tags")))
