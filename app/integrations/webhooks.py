"""Standard Webhooks signatures (external-apis.md §3), verified and made by our own code (Dodo
and Replicate deliveries alike).

Why not `standardwebhooks` or the SDK's `unwrap`: a signature entry without a comma makes the
library raise a bare ValueError, its tolerance is fixed at five minutes, it needs the body as a
`str`, and `unwrap` lives on a client object. Here one exception type covers every way a
delivery can be wrong, so the route can answer 401 and never 500.

Scheme: HMAC-SHA256 keyed with the base64-decoded part of the `whsec_` secret, over
`{webhook-id}.{webhook-timestamp}.{raw body}`; `webhook-signature` holds space-separated
`v1,<base64>` entries, and any entry matching any of our secrets (rotation) is enough.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

SECRET_PREFIX = "whsec_"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE_S = 300
# Dodo's ids look like `msg_` + ~28 characters; the cap keeps a forged header from reaching
# our dedupe table as an unbounded string.
MAX_WEBHOOK_ID_LENGTH = 255

# ASCII digits only: int() also accepts "+1", " 1", "1_0" and non-ASCII digits.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# A v1 signature is an HMAC-SHA256 digest; anything else cannot match and is unreadable.
_SHA256_SIZE = hashlib.sha256().digest_size

Reason = Literal[
    "missing_header",
    "malformed_header",
    "timestamp_out_of_tolerance",
    "no_matching_signature",
    "invalid_body",
]


class InvalidWebhookSignature(Exception):
    """The delivery is not provably from the provider (or not readable): answer 401.

    `reason` is for logs and metrics only; the caller should not tell the sender which check
    failed.
    """

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


@dataclass(frozen=True, slots=True)
class WebhookEnvelope:
    """A verified delivery. `webhook_id` is the same on every retry of one message (dedupe
    on it); `timestamp` is when this attempt was signed, in Unix seconds."""

    webhook_id: str
    timestamp: int
    payload: dict[str, Any]


def decode_secret(secret: str) -> bytes:
    """The HMAC key inside a `whsec_<base64>` secret (the prefix is optional).

    Raises ValueError: this runs on configuration at startup, where a bad secret should stop
    the process with a clear message rather than reject every delivery later.
    """
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        # Dashboards sometimes show the secret without its base64 padding.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret must be 'whsec_' followed by base64") from exc
    if not key:
        raise ValueError("a webhook secret must not be empty")
    return key


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(body: bytes, webhook_id: str, timestamp: int, secret: str) -> dict[str, str]:
    """The three headers a provider sends with `body`, for the local checkout and tests."""
    digest = signature(decode_secret(secret), webhook_id, timestamp, body)
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: "v1," + base64.b64encode(digest).decode("ascii"),
    }


class WebhookVerifier:
    """Checks deliveries against one or more secrets (during a rotation, the old and the new).

    Sync and CPU-only, one HMAC per secret, so it is fine to call inside an async route.
    """

    def __init__(self, secrets: Sequence[str], tolerance_s: int = DEFAULT_TOLERANCE_S) -> None:
        # A lone str is a Sequence[str] too; iterating it would make one secret per character.
        if isinstance(secrets, str):
            raise TypeError("pass the webhook secrets as a list, e.g. [secret]")
        self._keys = tuple(decode_secret(secret) for secret in secrets if secret.strip())
        if not self._keys:
            raise ValueError("at least one webhook secret is required")
        if tolerance_s <= 0:
            raise ValueError("the timestamp tolerance must be positive")
        self._tolerance_s = tolerance_s

    def verify(
        self, body: bytes, headers: Mapping[str, str], now: float | None = None
    ) -> WebhookEnvelope:
        """The verified envelope, or `InvalidWebhookSignature`.

        `body` must be the raw request bytes: re-serialised JSON does not verify. `headers`
        may be Starlette's or any mapping; names are matched case-insensitively.
        """
        webhook_id, raw_timestamp, raw_signatures = _required_headers(headers)
        timestamp = self._check_timestamp(raw_timestamp, time.time() if now is None else now)
        presented = _v1_signatures(raw_signatures)
        expected = [signature(key, webhook_id, timestamp, body) for key in self._keys]
        if not any(hmac.compare_digest(mine, theirs) for mine in expected for theirs in presented):
            raise InvalidWebhookSignature("no_matching_signature")
        return WebhookEnvelope(webhook_id, timestamp, _json_object(body))

    def _check_timestamp(self, raw: str, now: float) -> int:
        if not _TIMESTAMP.fullmatch(raw):
            raise InvalidWebhookSignature("malformed_header")
        timestamp = int(raw)
        # Both ways: an old timestamp is a replay, a future one would stay replayable longer.
        if abs(now - timestamp) > self._tolerance_s:
            raise InvalidWebhookSignature("timestamp_out_of_tolerance")
        return timestamp


def _required_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    lowered = {name.lower(): value for name, value in headers.items()}
    webhook_id = lowered.get(ID_HEADER, "")
    timestamp = lowered.get(TIMESTAMP_HEADER, "")
    signatures = lowered.get(SIGNATURE_HEADER, "")
    if not (webhook_id and timestamp and signatures):
        raise InvalidWebhookSignature("missing_header")
    if len(webhook_id) > MAX_WEBHOOK_ID_LENGTH:
        raise InvalidWebhookSignature("malformed_header")
    return webhook_id, timestamp, signatures


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded `v1` entries; other versions (`v1a`, future ones) and unreadable entries
    are skipped, as the spec asks, but a header with no usable entry at all is malformed."""
    found: list[bytes] = []
    for entry in header.split():
        version, comma, encoded = entry.partition(",")
        if version != "v1" or not comma:
            continue
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(decoded) == _SHA256_SIZE:
            found.append(decoded)
    if not found:
        raise InvalidWebhookSignature("malformed_header")
    return found


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    # RecursionError: deeply nested arrays; only a signed body gets here, but stay total.
    except (ValueError, RecursionError) as exc:
        raise InvalidWebhookSignature("invalid_body") from exc
    if not isinstance(payload, dict):
        raise InvalidWebhookSignature("invalid_body")
    return payload
