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


class ImageNotFound(AppError):
    status_code = 404
    code = "IMAGE_NOT_FOUND"
    message = "The image was not found."


class ForeignImage(AppError):
    status_code = 403
    code = "FOREIGN_IMAGE"
    message = "Only your own uploads can be used here."
