"""Object keys are made by the server, never from a client's file name (UP-05)."""

from __future__ import annotations

import secrets

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def user_key(folder: str, user_id: int, content_type: str) -> str:
    prefix = folder if folder.endswith("/") else f"{folder}/"
    return f"{prefix}user_{user_id}/{secrets.token_urlsafe(18)}.{EXTENSIONS[content_type]}"


def user_prefix(folder: str, user_id: int) -> str:
    prefix = folder if folder.endswith("/") else f"{folder}/"
    return f"{prefix}user_{user_id}/"
