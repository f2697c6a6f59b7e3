"""Moved to `app.integrations.webhooks` (Dodo and Replicate both sign with Standard Webhooks);
re-exported here so payment code and tests keep their imports."""

from app.integrations.webhooks import (
    DEFAULT_TOLERANCE_S,
    ID_HEADER,
    MAX_WEBHOOK_ID_LENGTH,
    SECRET_PREFIX,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InvalidWebhookSignature,
    WebhookEnvelope,
    WebhookVerifier,
    decode_secret,
    sign,
    signature,
)

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "ID_HEADER",
    "MAX_WEBHOOK_ID_LENGTH",
    "SECRET_PREFIX",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "InvalidWebhookSignature",
    "WebhookEnvelope",
    "WebhookVerifier",
    "decode_secret",
    "sign",
    "signature",
]
