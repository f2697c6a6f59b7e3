from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PhotoPurpose = Literal["selfie", "reference"]


class PhotoCheckRead(BaseModel):
    """The photo checks' verdict: `ok`, or the code and advice `POST /image/generate` would
    refuse this photo with (422)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                # The refusal first: the document's example is the first one, and the null
                # fields of a pass are dropped from schema examples.
                {
                    "ok": False,
                    "code": "FACE_TOO_SMALL",
                    "message": "Your face is too small in this photo. Move closer to the camera "
                    "or crop the photo so your head and hair fill more of it.",
                },
                {"ok": True, "code": None, "message": None},
            ]
        }
    )

    ok: bool
    code: (
        Literal[
            "NO_FACE_DETECTED",
            "MULTIPLE_FACES",
            "FACE_TOO_SMALL",
            "PHOTO_TOO_DARK",
            "PHOTO_TOO_BLURRY",
        ]
        | None
    ) = Field(description="The first check the photo fails; null when it passes")
    message: str | None = Field(description="What to do about it, for people")
