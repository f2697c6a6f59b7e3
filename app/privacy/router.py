"""/api/v1/user: privacy a person controls (SPEC §4a)."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.dependencies import CurrentUser
from app.core.openapi import error_responses
from app.privacy.dependencies import PrivacyServiceDep
from app.privacy.schemas import PrivacyRead, PrivacyUpdate

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
