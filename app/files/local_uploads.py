"""The embedded storage's HTTP side: the S3-compatible POST upload endpoint and signed media
URLs, so the web app's upload code works unchanged against local storage (SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import FormData, UploadFile

from app.core.errors import AppError, NotFound
from app.files.forms import text_fields
from app.integrations.storage import ObjectExists, Storage
from app.integrations.storage.local import LocalStorage
from app.integrations.storage.post_policy import PolicyViolation


class MediaAccessDenied(AppError):
    status_code = 403
    code = "FORBIDDEN"
    message = "This link is invalid or has expired."


@dataclass(frozen=True, slots=True)
class MediaFile:
    path: Path
    content_type: str


def local_storage(storage: Storage) -> LocalStorage:
    if not isinstance(storage, LocalStorage):
        # With S3 the browser posts to S3 itself; this endpoint does not exist.
        raise NotFound()
    return storage


async def receive_form_upload(storage: Storage, form: FormData) -> None:
    """Check the signed policy exactly as S3 would, then store the file. Raises
    PolicyViolation (rendered as S3's XML error) for anything S3 would refuse, and for a
    second POST to a key: unlike S3's, our forms are single-use (UP-06)."""
    local = local_storage(storage)
    fields = text_fields(form)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise PolicyViolation(
            "InvalidArgument",
            "POST requires exactly one file upload per request.",
            status_code=400,
        )
    data = await upload.read()
    check = local.verify_post_policy(fields, len(data), upload.content_type)
    try:
        await local.put_once(check.key, data, check.content_type)
    except ObjectExists:
        raise used_form_violation() from None


def used_form_violation() -> PolicyViolation:
    return PolicyViolation(
        "AccessDenied",
        "Invalid according to Policy: this upload form has been used already; "
        "ask for a new one to upload another file.",
    )


def too_large_violation(max_bytes: int, declared: int | None) -> PolicyViolation:
    return PolicyViolation(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        status_code=400,
        ProposedSize=declared if declared is not None else max_bytes + 1,
        MaxSizeAllowed=max_bytes,
    )


async def media_file(storage: Storage, key: str, expires: str, sig: str) -> MediaFile:
    local = local_storage(storage)
    if not local.verify_url_signature(key, expires, sig):
        raise MediaAccessDenied()
    info = await local.head(key)
    if info is None:
        raise NotFound()
    return MediaFile(local.path_for(key), info.content_type or "application/octet-stream")
