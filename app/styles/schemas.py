from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class StyleRead(BaseModel):
    """A catalogue entry as clients see it: never the prompt."""

    id: int
    name: str
    category: Literal["standard", "celebrity"]
    image_url: str
    description: str
