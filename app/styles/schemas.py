from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class StyleRead(BaseModel):
    """A catalogue entry as clients see it: never the prompt."""

    id: int
    name: str
    category: Literal["standard", "celebrity"]
    image_url: str
    description: str


class ColorRead(BaseModel):
    """A hair colour to pick apart from the style; `hex` is null for `keep` (your own)."""

    id: str = Field(examples=["copper"])
    name: str = Field(examples=["Copper"])
    hex: str | None = Field(examples=["#b5562a"])
