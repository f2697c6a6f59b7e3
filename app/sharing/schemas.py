from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import InputModel

MAX_SHARE_HOURS = 720


class ShareRequest(InputModel):
    expires_in_hours: Annotated[
        int, Field(ge=1, le=MAX_SHARE_HOURS, description="How long the link works: 1..720 hours")
    ] = 72

    model_config = ConfigDict(json_schema_extra={"examples": [{"expires_in_hours": 72}]})


class ShareRead(BaseModel):
    url: str
    expires_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://api.example.com/s/q8Hn3kV0d1Yw2m4Zp6Tt9Rb5Lx7Cs0Ef2Gh4Jk6Mn8P",
                    "expires_at": "2026-12-05T05:00:00Z",
                }
            ]
        }
    )
