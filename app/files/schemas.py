from __future__ import annotations

from pydantic import BaseModel


class PresignRead(BaseModel):
    """A browser POST upload: send every field of `fields`, then `file` last, to `upload_url`."""

    upload_url: str
    fields: dict[str, str]
    file_url: str
    key: str


class StoredFileRead(BaseModel):
    file_url: str
    key: str
