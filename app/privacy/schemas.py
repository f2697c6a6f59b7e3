from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import InputModel

RetentionDays = Annotated[
    int | None,
    Field(
        ge=1,
        le=365,
        description="Delete your uploads and results older than this many days (1..365); "
        "null keeps them until you delete them",
    ),
]


class PrivacyUpdate(InputModel):
    # Required (null allowed): an empty body must not switch the window off by accident.
    retention_days: RetentionDays

    model_config = ConfigDict(json_schema_extra={"examples": [{"retention_days": 30}]})


class PrivacyRead(BaseModel):
    retention_days: RetentionDays

    model_config = ConfigDict(json_schema_extra={"examples": [{"retention_days": 30}]})


class DeletedRead(BaseModel):
    images_deleted: int
    uploads_deleted: int

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"images_deleted": 12, "uploads_deleted": 9}]}
    )
