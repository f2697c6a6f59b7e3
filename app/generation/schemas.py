from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from app.core.schemas import InputModel
from app.core.types import Id, Text


class GenerateRequest(InputModel):
    # Your own upload: its file_url (as returned by /files) or its key.
    image_input_url: Annotated[Text, Field(min_length=1, max_length=2048)]
    style_id: Id
    # A colour id from GET /image/colors; "keep" (the default) keeps the person's own colour.
    hair_color: Annotated[
        Text,
        Field(
            min_length=1,
            max_length=32,
            examples=["copper"],
            description='A colour id from `GET /image/colors`; `"keep"` keeps your own colour.',
        ),
    ] = "keep"


class ViewGenerateRequest(InputModel):
    image_id: Id


class StartedRead(BaseModel):
    image_id: int
    message: str


class JobError(BaseModel):
    code: str
    message: str


class StatusRead(BaseModel):
    id: int
    status: str
    views_status: str
    description: str
    output_image_url: str | None
    right_view_url: str | None
    left_view_url: str | None
    back_view_url: str | None
    error: JobError | None


class SideViewsRead(BaseModel):
    right_view_url: str | None
    left_view_url: str | None
    back_view_url: str | None


class ImageRead(BaseModel):
    id: int
    input_image_url: str
    output_image_url: str | None
    description: str
    style_name: str
    side_views: SideViewsRead | None
    status: str
    views_status: str
    liked: bool | None
    created_at: datetime
    time_taken: float | None


class ImagesPage(BaseModel):
    images: list[ImageRead]
    page: int
    limit: int
    next_page: int | None
    total_images: int


class LikedRead(BaseModel):
    liked: bool


class DislikedRead(BaseModel):
    disliked: bool
