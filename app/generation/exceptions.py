from __future__ import annotations

from app.core.errors import AppError


class StyleNotFound(AppError):
    status_code = 404
    code = "STYLE_NOT_FOUND"
    message = "This style does not exist or is no longer offered."


class ImageNotReady(AppError):
    status_code = 409
    code = "IMAGE_NOT_READY"
    message = "The image is not finished yet."


class ViewsExist(AppError):
    status_code = 409
    code = "VIEWS_EXIST"
    message = "Views for this image were already requested."


class IdempotencyKeyReused(AppError):
    status_code = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was used with a different request."


class InvalidWebhookSignatureError(AppError):
    status_code = 401
    code = "INVALID_SIGNATURE"
    message = "The webhook signature is invalid."


class GeneratorNotReplicate(AppError):
    status_code = 404
    code = "GENERATOR_NOT_REPLICATE"
    message = "This deployment does not generate on Replicate."


class ProviderUnavailable(AppError):
    status_code = 503
    code = "PROVIDER_UNAVAILABLE"
    message = "The image generator cannot be reached; try again later."


class ColorNotFound(AppError):
    status_code = 404
    code = "COLOR_NOT_FOUND"
    message = "This hair colour is not offered; pick one from /image/colors or use keep."
