"""RS256 JWTs for the tests, signed with cryptography itself.

Not with PyJWT: the app imports PyJWT without cryptography (app/auth/tokens.py), so in the test
process PyJWT may have no RSA support, depending on which module imported it first.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def sign_rs256(
    claims: Mapping[str, object],
    key: rsa.RSAPrivateKey,
    headers: Mapping[str, str] | None = None,
) -> str:
    """A compact JWS (RFC 7515) of `claims`, RS256 (RSASSA-PKCS1-v1_5 with SHA-256)."""
    header = {"alg": "RS256", "typ": "JWT", **(headers or {})}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def public_jwk(key: rsa.RSAPublicKey) -> dict[str, object]:
    """The key as a JWK (RFC 7518 §6.3.1), as PyJWT's `RSAAlgorithm.to_jwk` writes it."""
    numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "key_ops": ["verify"],
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }
