"""/api/v1/files: presigned browser uploads and direct uploads (SPEC §3), plus the embedded
storage's S3-style form endpoint and signed media URLs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse

from app.api.deps import ResourcesDep
from app.auth.dependencies import CurrentUser
from app.core.body_limit import reads_own_body
from app.core.openapi import error_responses, multipart_file_body
from app.core.types import Text
from app.files.dependencies import FileServiceDep
from app.files.exceptions import ImageTooLarge
from app.files.forms import file_bytes, read_capped_form
from app.files.local_uploads import media_file, receive_form_upload, too_large_violation
from app.files.schemas import PresignRead, StoredFileRead
from app.integrations.storage import post_policy
from app.integrations.storage.post_policy import PolicyViolation
from app.photos.dependencies import PhotoCheckServiceDep
from app.photos.schemas import PhotoCheckRead, PhotoPurpose

AUTH_ERRORS = ("NO_COOKIES_FOUND", "NOT_AUTHENTICATED", "EMAIL_NOT_VERIFIED", "CSRF_FAILED")
router = APIRouter(prefix="/files", tags=["files"])
S3_ERROR = {
    "schema": {"type": "string"},
    "example": "<Error><Code>AccessDenied</Code><Message>Invalid according to Policy</Message>"
    "</Error>",
}
# The presigned POST from /files/presign: every field of `fields` as given, then `file` last.
# The names are the local POST policy's own, so the document says what the route reads.
UPLOAD_FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [
                        post_policy.KEY_FIELD,
                        post_policy.CONTENT_TYPE_FIELD,
                        post_policy.POLICY_FIELD,
                        post_policy.SIGNATURE_FIELD,
                        post_policy.FILE_FIELD,
                    ],
                    "properties": {
                        post_policy.KEY_FIELD: {"type": "string"},
                        post_policy.CONTENT_TYPE_FIELD: {"type": "string"},
                        post_policy.POLICY_FIELD: {"type": "string"},
                        post_policy.SIGNATURE_FIELD: {"type": "string"},
                        post_policy.FILE_FIELD: {"type": "string", "format": "binary"},
                    },
                    "additionalProperties": {"type": "string"},
                },
                "example": {
                    post_policy.KEY_FIELD: "uploads/user_1/abc.jpg",
                    post_policy.CONTENT_TYPE_FIELD: "image/jpeg",
                    post_policy.POLICY_FIELD: "eyJleHBpcmF0aW9uIjoi...",
                    post_policy.SIGNATURE_FIELD: "3f1c...",
                    post_policy.FILE_FIELD: "selfie.jpg (JPEG bytes)",
                },
            }
        },
    }
}
media_router = APIRouter(tags=["files"])


@router.get(
    "/presign",
    summary="A presigned browser upload (POST policy)",
    responses=error_responses("UNSUPPORTED_IMAGE_TYPE", *AUTH_ERRORS),
)
async def presign(
    user: CurrentUser,
    files: FileServiceDep,
    file_type: Annotated[Text, Query(max_length=100, description="the file's MIME type")],
    file_name: Annotated[
        Text | None, Query(max_length=255, description="ignored: keys are made by the server")
    ] = None,
) -> PresignRead:
    """POST every field of `fields`, then `file` last, to `upload_url` (S3, or this server with
    local storage). The policy allows exactly this key and content type, 1 byte to
    `MAX_IMAGE_SIZE_MB`, for one hour. The image is checked when it is first used."""
    upload = await files.presign(user, file_type)
    return PresignRead(
        upload_url=upload.upload_url, fields=upload.fields, file_url=upload.file_url, key=upload.key
    )


@router.post(
    "/upload",
    summary="Upload an image through the API (multipart `file`)",
    openapi_extra=multipart_file_body("The selfie: JPEG, PNG or WebP, up to MAX_IMAGE_SIZE_MB"),
    responses=error_responses(
        "INVALID_IMAGE", "UNSUPPORTED_IMAGE_TYPE", "IMAGE_TOO_LARGE", *AUTH_ERRORS
    ),
)
@reads_own_body
async def upload(request: Request, user: CurrentUser, files: FileServiceDep) -> StoredFileRead:
    """Checked on the way in: type by content, full decode, pixel cap, EXIF orientation
    applied and all metadata removed."""
    form = await read_capped_form(request, files.policy.max_bytes)
    stored = await files.upload(user, await file_bytes(form))
    return StoredFileRead(file_url=stored.url, key=stored.key)


@router.get(
    "/check",
    summary="Run the photo checks on an upload, without generating",
    responses=error_responses(
        "IMAGE_NOT_FOUND",
        "INVALID_IMAGE",
        "UNSUPPORTED_IMAGE_TYPE",
        "IMAGE_TOO_LARGE",
        *AUTH_ERRORS,
    ),
)
async def check(
    user: CurrentUser,
    photos: PhotoCheckServiceDep,
    key: Annotated[Text, Query(max_length=1024, description="the upload's key")],
    purpose: Annotated[
        PhotoPurpose,
        Query(
            max_length=16,
            description="selfie: the person's photo; reference: a haircut photo (no face needed)",
        ),
    ] = "selfie",
) -> PhotoCheckRead:
    """The answer `POST /image/generate` would give this photo, so a client can warn before
    the person picks a style: `ok`, or the first failed check (`PHOTO_TOO_DARK`,
    `NO_FACE_DETECTED`, `MULTIPLE_FACES`, `FACE_TOO_SMALL`, `PHOTO_TOO_BLURRY`, in that order)
    with advice. Free; measured once per upload (usually already done when it was accepted).
    Your own uploads only: any other key answers 404 `IMAGE_NOT_FOUND`, as a missing one. A
    presigned upload goes through image intake on its first check (415/413/422 as for
    `POST /files/upload`)."""
    problem = await photos.check_upload(user.id, key, needs_face=purpose == "selfie")
    if problem is None:
        return PhotoCheckRead(ok=True, code=None, message=None)
    return PhotoCheckRead(ok=False, code=problem.code, message=problem.message)


@router.post(
    "/upload-form",
    summary="Local storage: the S3-compatible POST upload target",
    status_code=204,
    openapi_extra=UPLOAD_FORM_BODY,
    responses={
        400: {"description": "S3 XML error", "content": {"application/xml": S3_ERROR}},
        403: {"description": "S3 XML error", "content": {"application/xml": S3_ERROR}},
        # Not a multipart form at all: our JSON error, before any S3 rule applies.
        **error_responses("INVALID_IMAGE"),
    },
)
@reads_own_body
async def upload_form(request: Request, resources: ResourcesDep) -> Response:
    """Accepts exactly the form a presigned S3 POST takes and answers errors in S3's XML, so
    browser upload code works unchanged. Authorised by the signed policy, not a session.
    Each form uploads once: a second POST to its key answers 403 `AccessDenied`."""
    max_bytes = resources.image_policy.max_bytes
    try:
        form = await read_capped_form(request, max_bytes)
        await receive_form_upload(resources.storage, form)
    except ImageTooLarge:
        declared = request.headers.get("content-length", "")
        violation = too_large_violation(max_bytes, int(declared) if declared.isdigit() else None)
        return _xml_error(violation)
    except PolicyViolation as violation:
        return _xml_error(violation)
    return Response(status_code=204)


def _xml_error(violation: PolicyViolation) -> Response:
    return Response(
        violation.to_xml(), status_code=violation.status_code, media_type="application/xml"
    )


@media_router.get(
    "/media/{key:path}",
    summary="Local storage: a signed, expiring file URL",
    responses=error_responses("FORBIDDEN", "NOT_FOUND"),
)
async def media(
    key: Annotated[Text, Path(max_length=1024)],
    resources: ResourcesDep,
    expires: Annotated[Text, Query(max_length=20)],
    sig: Annotated[Text, Query(max_length=200)],
) -> FileResponse:
    """Served with the content type stored with the object and `nosniff`, never a type
    guessed from the bytes or the name; the sandbox CSP keeps anything else inert."""
    found = await media_file(resources.storage, key, expires, sig)
    return FileResponse(
        found.path,
        media_type=found.content_type,
        headers={
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
