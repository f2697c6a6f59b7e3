from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from app.core.schemas import InputModel
from app.core.types import Id, Text


class GenerateRequest(InputModel):
    """A style from the catalogue (`style_id`) or a haircut from a photo
    (`reference_image_url`): exactly one of them."""

    # Your own upload: its file_url (as returned by /files) or its key.
    image_input_url: Annotated[Text, Field(min_length=1, max_length=2048)]
    style_id: Id | None = None
    reference_image_url: Annotated[
        Text | None,
        Field(
            min_length=1,
            max_length=2048,
            examples=["uploads/user_1/haircut.jpg"],
            description="Instead of `style_id`: your own upload (URL or key) of a haircut to "
            "copy; a face in it is not needed.",
        ),
    ] = None
    hair_color: Annotated[
        Text | None,
        Field(
            min_length=1,
            max_length=32,
            examples=["copper"],
            description='A colour id from `GET /image/colors`. `"keep"` (the default with '
            "`style_id`) keeps your own colour; with `reference_image_url` the default is the "
            'reference\'s colour, and `"keep"` keeps yours.',
        ),
    ] = None

    @model_validator(mode="after")
    def _one_source(self) -> GenerateRequest:
        if (self.style_id is None) == (self.reference_image_url is None):
            raise ValueError("give exactly one of style_id and reference_image_url")
        return self


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
