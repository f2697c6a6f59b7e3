"""/api/v1/user: privacy a person controls (SPEC §4a)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from app.auth.dependencies import CurrentUser
from app.core.openapi import error_responses
from app.privacy.dependencies import ExportRateLimit, ExportServiceDep, PrivacyServiceDep
from app.privacy.schemas import DeletedRead, PrivacyRead, PrivacyUpdate

AUTH_ERRORS = ("NO_COOKIES_FOUND", "NOT_AUTHENTICATED", "EMAIL_NOT_VERIFIED", "CSRF_FAILED")
router = APIRouter(prefix="/user", tags=["user"], responses=error_responses(*AUTH_ERRORS))


@router.get("/privacy", summary="Your retention window")
async def get_privacy(user: CurrentUser, privacy: PrivacyServiceDep) -> PrivacyRead:
    return privacy.read(user)


@router.put("/privacy", summary="Choose how long we keep your photos")
async def put_privacy(
    body: PrivacyUpdate, user: CurrentUser, privacy: PrivacyServiceDep
) -> PrivacyRead:
    """With `retention_days` set, your uploads and results (images, side views) older than that
    many days are deleted automatically, objects and records, by a purge that runs every
    RETENTION_PURGE_INTERVAL_S (an hour by default). Your profile picture is never deleted, and
    a photo stays while an image made from it does. `null` keeps everything until you delete
    it yourself."""
    return await privacy.set_retention(user, body.retention_days)


@router.get(
    "/export",
    summary="Download all your data (a zip)",
    response_class=StreamingResponse,
    dependencies=[ExportRateLimit],
    responses={
        **error_responses("RATE_LIMITED"),
        200: {
            "description": "A zip, streamed: `profile.json`, `credit_ledger.json`, "
            "`transactions.json` (with `payment_attempts.json`, `payment_refunds.json`), "
            "`images.json`, `image_views.json`, `share_links.json`, `uploads.json`, and the "
            "files under `files/` (profile picture, uploads, each image's results)",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        },
    },
)
async def export(user: CurrentUser, exports: ExportServiceDep) -> StreamingResponse:
    """Every row we keep about you, and your pictures fetched from storage while the zip
    streams. No password hash or token digest is included. Limited per user
    (RATE_LIMIT_EXPORT, 10 an hour by default)."""
    plan = await exports.plan(user)
    return StreamingResponse(
        exports.stream(plan),
        media_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="hairtryon-export.zip"',
            "Cache-Control": "no-store",
        },
    )


@router.delete("/images", summary="Delete all your images and uploads at once")
async def delete_all_images(user: CurrentUser, privacy: PrivacyServiceDep) -> DeletedRead:
    """Every image (with its side views and share link) and every upload, records now and
    files right after; the upload in use as your profile picture stays (change or remove the
    picture first). Your account, credits and history stay: `DELETE /user/me` removes those."""
    return await privacy.delete_everything(user)
