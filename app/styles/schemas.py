from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Category = Literal["standard", "celebrity"]
Gender = Literal["female", "male", "unisex"]
Length = Literal["short", "medium", "long"]
# A tag as stored and as filtered on: a lower-case slug.
TAG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,23}$"


class StyleRead(BaseModel):
    """A catalogue entry as clients see it: never the prompt."""

    id: int
    name: str
    category: Category
    image_url: str
    description: str
    gender: Gender
    length: Length
    tags: list[str] = Field(examples=[["bob", "sleek"]])


class ColorRead(BaseModel):
    """A hair colour to pick apart from the style; `hex` is null for `keep` (your own)."""

    id: str = Field(examples=["copper"])
    name: str = Field(examples=["Copper"])
    hex: str | None = Field(examples=["#b5562a"])
