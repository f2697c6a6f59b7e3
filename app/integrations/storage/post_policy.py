"""S3-style POST policies for the local adapter's upload endpoint (SPEC §3).

The SPA uploads with a browser form POST built from `{upload_url, fields}` and parses S3's XML
errors. With local storage the backend itself receives that form, so the fields, the checks
and the error answers mirror S3's: a base64 JSON policy (expiration + conditions) signed with
HMAC-SHA256, fields not covered by the policy refused, and S3's own error codes and messages
(`AccessDenied`, `SignatureDoesNotMatch`, `EntityTooLarge`, ...).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

KEY_FIELD = "key"
CONTENT_TYPE_FIELD = "Content-Type"
POLICY_FIELD = "policy"
SIGNATURE_FIELD = "signature"
FILE_FIELD = "file"
# Fields S3 never checks against the policy conditions: the credentials themselves, the file
# part, and anything the client marks as ignorable.
_UNCONDITIONED_FIELDS = frozenset({POLICY_FIELD, SIGNATURE_FIELD, FILE_FIELD})
_IGNORED_PREFIX = "x-ignore-"

# Separates this use of the signing key from the signed media URLs (`local.py`), so a
# signature made for one can never be replayed as the other.
_POLICY_CONTEXT = b"hairtryon/post-policy\n"
_EXPIRATION_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_XML_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


@dataclass(frozen=True, slots=True)
class PostPolicy:
    """The verified terms of one upload form."""

    key: str
    content_type: str
    min_bytes: int
    max_bytes: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class PolicyCheck:
    """An upload that satisfies its policy: store `size` bytes at `key` as `content_type`."""

    key: str
    content_type: str
    size: int


class PolicyViolation(Exception):
    """An upload S3 would refuse; `to_xml()` is the body S3 would answer with."""

    def __init__(
        self, code: str, message: str, *, status_code: int = 403, **extra: str | int
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status_code = status_code
        self.extra = extra

    def to_xml(self, **more: str | int) -> str:
        """The S3 error document; `more` adds elements such as `RequestId`."""
        return s3_error_xml(self.code, self.message, **self.extra, **more)


def s3_error_xml(code: str, message: str, **extra: str | int) -> str:
    """`<Error><Code>…</Code><Message>…</Message><Extra>…</Extra></Error>` as S3 writes it."""
    parts = [f"<Code>{escape(code)}</Code>", f"<Message>{escape(message)}</Message>"]
    for name, value in extra.items():
        if not _XML_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid XML element name")
        parts.append(f"<{name}>{escape(str(value))}</{name}>")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"


def sign_post_policy(
    signing_key: bytes, *, key: str, content_type: str, max_bytes: int, expires_at: int
) -> dict[str, str]:
    """The form fields for one upload: exact key, exact content type, 1..`max_bytes` bytes."""
    expiration = datetime.fromtimestamp(expires_at, UTC).strftime(_EXPIRATION_FORMAT)
    document = {
        "expiration": expiration,
        "conditions": [
            {KEY_FIELD: key},
            {CONTENT_TYPE_FIELD: content_type},
            ["content-length-range", 1, max_bytes],
        ],
    }
    policy = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()
    return {
        KEY_FIELD: key,
        CONTENT_TYPE_FIELD: content_type,
        POLICY_FIELD: policy,
        SIGNATURE_FIELD: _policy_signature(signing_key, policy),
    }


def read_post_policy(
    signing_key: bytes, fields: Mapping[str, str], now: float | None = None
) -> PostPolicy:
    """Check everything about a form except its file: signature, expiry, the key field and
    that no field is outside the policy. Lets an endpoint learn `max_bytes` before it reads
    the file."""
    policy = fields.get(POLICY_FIELD)
    signature = fields.get(SIGNATURE_FIELD)
    if not policy or not signature:
        # No credentials at all: S3 treats the form as an anonymous write to a private bucket.
        raise PolicyViolation("AccessDenied", "Access Denied")
    # Bytes, not str: compare_digest raises TypeError on non-ASCII text (a 500 for one
    # typed character); "replace" also survives lone surrogates.
    expected = _policy_signature(signing_key, policy).encode()
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        raise PolicyViolation(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    terms = _parse_policy(policy)
    if (time.time() if now is None else now) >= terms.expires_at:
        raise PolicyViolation("AccessDenied", "Invalid according to Policy: Policy expired.")
    if fields.get(KEY_FIELD) != terms.key:
        raise _condition_failed("key", terms.key)
    extra = sorted(
        name
        for name in fields
        if name not in _UNCONDITIONED_FIELDS
        and name not in (KEY_FIELD, CONTENT_TYPE_FIELD)
        and not name.lower().startswith(_IGNORED_PREFIX)
    )
    if extra:
        raise PolicyViolation(
            "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}"
        )
    return terms


def check_upload(terms: PostPolicy, file_size: int, content_type: str | None) -> PolicyCheck:
    """Check the file against verified terms: content type, then size (S3's order)."""
    if content_type != terms.content_type:
        raise _condition_failed("Content-Type", terms.content_type)
    if file_size < terms.min_bytes:
        raise PolicyViolation(
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed object size.",
            status_code=400,
            ProposedSize=file_size,
            MinSizeAllowed=terms.min_bytes,
        )
    if file_size > terms.max_bytes:
        raise PolicyViolation(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed object size.",
            status_code=400,
            ProposedSize=file_size,
            MaxSizeAllowed=terms.max_bytes,
        )
    return PolicyCheck(key=terms.key, content_type=terms.content_type, size=file_size)


def verify_post_policy(
    signing_key: bytes,
    fields: Mapping[str, str],
    file_size: int,
    file_content_type: str | None,
    now: float | None = None,
) -> PolicyCheck:
    """Everything S3 checks on a form upload, or `PolicyViolation`.

    As on S3 the object's type is the form's `Content-Type` field; the file part's own type is
    only used when that field is missing (browsers always send one for a `File`).
    """
    terms = read_post_policy(signing_key, fields, now)
    content_type = fields.get(CONTENT_TYPE_FIELD) or file_content_type
    return check_upload(terms, file_size, content_type)


def _policy_signature(signing_key: bytes, policy: str) -> str:
    message = _POLICY_CONTEXT + policy.encode("utf-8", "replace")
    return hmac.new(signing_key, message, hashlib.sha256).hexdigest()


def _condition_failed(field: str, expected: str) -> PolicyViolation:
    condition = json.dumps(["eq", f"${field}", expected])
    return PolicyViolation(
        "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {condition}"
    )


def _invalid_policy(reason: str) -> PolicyViolation:
    return PolicyViolation("InvalidPolicyDocument", f"Invalid Policy: {reason}", status_code=400)


def _parse_policy(policy: str) -> PostPolicy:
    """Read a policy we signed. The signature is already verified, so a malformed document
    means an old or foreign format; it is still refused cleanly rather than with a 500."""
    try:
        document = json.loads(base64.b64decode(policy, validate=True))
        expires_at = datetime.strptime(document["expiration"], _EXPIRATION_FORMAT)
        conditions = document["conditions"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise _invalid_policy("Invalid JSON.") from exc
    if not isinstance(conditions, list):
        raise _invalid_policy("Invalid JSON.")
    exact: dict[str, str] = {}
    size_range: tuple[int, int] | None = None
    for condition in conditions:
        size_range = _read_condition(condition, exact) or size_range
    if KEY_FIELD not in exact or CONTENT_TYPE_FIELD not in exact or size_range is None:
        raise _invalid_policy("Missing required conditions.")
    return PostPolicy(
        key=exact[KEY_FIELD],
        content_type=exact[CONTENT_TYPE_FIELD],
        min_bytes=size_range[0],
        max_bytes=size_range[1],
        expires_at=int(expires_at.replace(tzinfo=UTC).timestamp()),
    )


def _read_condition(condition: Any, exact: dict[str, str]) -> tuple[int, int] | None:
    """Record an exact-match condition in `exact`, or return a content-length range."""
    if isinstance(condition, dict) and len(condition) == 1:
        ((name, value),) = condition.items()
        if isinstance(name, str) and isinstance(value, str):
            exact[name] = value
            return None
    if (
        isinstance(condition, list)
        and len(condition) == 3
        and condition[0] == "content-length-range"
        and all(type(bound) is int for bound in condition[1:])
    ):
        return int(condition[1]), int(condition[2])
    raise _invalid_policy("Unknown condition.")
