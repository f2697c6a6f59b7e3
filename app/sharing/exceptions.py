from __future__ import annotations

from app.core.errors import AppError


class ShareNotFound(AppError):
    """Unknown, expired and revoked links answer the same: a token tells nothing about why."""

    status_code = 404
    code = "SHARE_NOT_FOUND"
    message = "This share link does not exist, has expired or was revoked."
