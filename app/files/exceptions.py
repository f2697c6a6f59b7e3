"""Image errors of SPEC §0; the same code for the same situation wherever an image comes in."""

from __future__ import annotations

from app.core.errors import AppError


class InvalidImage(AppError):
    status_code = 422
    code = "INVALID_IMAGE"
    message = "The file is not a valid image, or it is damaged."


class UnsupportedImageType(AppError):
    status_code = 415
    code = "UNSUPPORTED_IMAGE_TYPE"
    message = "This file type is not supported; upload a JPEG, PNG or WebP image."


class ImageTooLarge(AppError):
    status_code = 413
    code = "IMAGE_TOO_LARGE"
    message = "The image is too large."
