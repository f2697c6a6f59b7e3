"""Typed JWTs (SPEC §0): every token carries `typ`, `jti`, `sub`, `iat` and `exp`, and a token of
one type is never accepted as another (AUTH-03).

Two layers keep types apart: the `typ` claim is checked on every decode, and refresh tokens are
signed with their own secret, so a refresh token fails as an access token on the signature alone,
even if some future caller forgot the `typ` check. Decoding pins the one configured algorithm,
which refuses `alg: none` and algorithm-confusion tokens (AUTH-06).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from app.core.optional_imports import CRYPTOGRAPHY, without

# PyJWT without cryptography (~8 MB per worker): it would load it for RSA, EC and EdDSA keys,
# and our tokens are HMAC only. Its one use of cryptography on the HMAC path, refusing a DER
# public key or certificate as a secret, is kept in `_PreparedHMAC` (see `_is_der_key`).
with without(CRYPTOGRAPHY):
    import jwt
    from jwt.algorithms import HMACAlgorithm
    from jwt.api_jws import PyJWS

# Symmetric algorithms only: the keys are shared secrets from the settings.
SUPPORTED_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
DEFAULT_LEEWAY = timedelta(seconds=5)
DEFAULT_VERIFY_EMAIL_TTL = timedelta(hours=24)
DEFAULT_PASSWORD_RESET_TTL = timedelta(hours=1)

_REQUIRED_CLAIMS = ("exp", "iat", "sub", "jti", "typ")
# Registered claims that `extra` may not set: they carry the token's meaning, and letting a
# caller override one (say `typ` or `sub`) would mint a different token than the one asked for.
RESERVED_CLAIMS = frozenset({*_REQUIRED_CLAIMS, "nbf", "iss", "aud"})


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"
    VERIFY_EMAIL = "verify_email"
    PASSWORD_RESET = "password_reset"


class InvalidToken(Exception):
    """The token is forged, expired, malformed or of another type. The HTTP layer maps it to
    401 `NOT_AUTHENTICATED` or 400 `INVALID_TOKEN` depending on the endpoint; the message is for
    logs, not for clients."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenClaims:
    sub: int
    jti: str
    typ: TokenType
    iat: datetime
    exp: datetime
    extra: Mapping[str, str | int] = field(default_factory=dict)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TokenService:
    def __init__(
        self,
        *,
        secret_key: str,
        refresh_secret_key: str,
        algorithm: str = "HS256",
        access_ttl: timedelta,
        refresh_ttl: timedelta,
        verify_email_ttl: timedelta = DEFAULT_VERIFY_EMAIL_TTL,
        password_reset_ttl: timedelta = DEFAULT_PASSWORD_RESET_TTL,
        leeway: timedelta = DEFAULT_LEEWAY,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise ValueError(f"unsupported JWT algorithm {algorithm!r}")
        if not secret_key or not refresh_secret_key:
            raise ValueError("JWT secrets must not be empty")
        if secret_key == refresh_secret_key:
            # The separate refresh key is the second wall between token types; equal keys
            # would quietly remove it.
            raise ValueError("secret_key and refresh_secret_key must differ")
        self._algorithm = algorithm
        self._algorithms = [algorithm]
        self._codec = _Codec(algorithm, secret_key)
        self._refresh_codec = _Codec(algorithm, refresh_secret_key)
        self._ttls = {
            TokenType.ACCESS: access_ttl,
            TokenType.REFRESH: refresh_ttl,
            TokenType.VERIFY_EMAIL: verify_email_ttl,
            TokenType.PASSWORD_RESET: password_reset_ttl,
        }
        for token_type, ttl in self._ttls.items():
            _require_positive(ttl, f"{token_type} ttl")
        self._leeway = leeway
        self._clock = clock

    def ttl(self, token_type: TokenType) -> timedelta:
        """The default lifetime of a token type (e.g. for `expires_in` and cookie max-age)."""
        return self._ttls[token_type]

    def issue(
        self,
        token_type: TokenType,
        subject: int,
        ttl: timedelta | None = None,
        jti: str | None = None,
        extra: Mapping[str, str | int] | None = None,
    ) -> IssuedToken:
        if isinstance(subject, bool) or not isinstance(subject, int):
            raise TypeError("subject must be an integer user id")
        lifetime = self._ttls[token_type] if ttl is None else ttl
        _require_positive(lifetime, "ttl")
        extra = extra or {}
        clashes = RESERVED_CLAIMS.intersection(extra)
        if clashes:
            raise ValueError(f"extra claims may not set {sorted(clashes)}")
        token_id = jti or secrets.token_urlsafe(16)
        # JWT dates are whole seconds; round once here so `expires_at` is exactly `exp`.
        issued_at = int(self._clock().timestamp())
        expires = issued_at + int(lifetime.total_seconds())
        payload: dict[str, Any] = {
            **extra,
            # PyJWT (like RFC 7519) wants `sub` as a string; decode turns it back into an int.
            "sub": str(subject),
            "jti": token_id,
            "typ": token_type.value,
            "iat": issued_at,
            "exp": expires,
        }
        codec = self._codec_for(token_type)
        token = codec.encode(payload, codec.key, algorithm=self._algorithm)
        return IssuedToken(
            token=token, jti=token_id, expires_at=datetime.fromtimestamp(expires, UTC)
        )

    def decode(self, token: str, expected_type: TokenType) -> TokenClaims:
        """Verify `token` as a token of `expected_type`, or raise `InvalidToken`."""
        codec = self._codec_for(expected_type)
        try:
            payload = codec.decode(
                token,
                codec.key,
                # Only ours: this is what refuses `none`, other HMAC sizes and RS256 headers.
                algorithms=self._algorithms,
                leeway=self._leeway,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        # A StrEnum equals its value; `.value` is a slow enum property on this path.
        if payload["typ"] != expected_type:
            raise InvalidToken(f"expected a {expected_type} token")
        if not payload["jti"]:
            # Revocation and reuse detection key on the jti; an empty one would collide.
            raise InvalidToken("empty jti")
        return TokenClaims(
            sub=_parse_subject(payload["sub"]),
            jti=payload["jti"],
            typ=expected_type,
            iat=datetime.fromtimestamp(int(payload["iat"]), UTC),
            exp=datetime.fromtimestamp(int(payload["exp"]), UTC),
            extra=_extra_claims(payload),
        )

    def _codec_for(self, token_type: TokenType) -> _Codec:
        if token_type is TokenType.REFRESH:
            return self._refresh_codec
        return self._codec


class _PreparedHMAC(HMACAlgorithm):
    """HMAC with its key prepared once. PyJWT prepares the key on every decode, also given a
    `PyJWK`: it converts it and screens it (not empty, not a PEM, SSH, DER or JWK key),
    which cost more than the HMAC itself on the status poll. The same screening runs here, once,
    at start-up; for that key, verifying then copies an HMAC already keyed with it."""

    def __init__(self, hash_alg: Callable[[], Any], key: str) -> None:
        super().__init__(hash_alg)
        self.key = super().prepare_key(key)
        if _is_der_key(self.key):
            raise jwt.InvalidKeyError(
                "The specified key is an asymmetric key or x509 certificate and"
                " should not be used as an HMAC secret."
            )
        self._key_length_warning = super().check_key_length(self.key)
        self._keyed = hmac.new(self.key, digestmod=hash_alg)

    def prepare_key(self, key: str | bytes) -> bytes:
        return self.key if key is self.key else super().prepare_key(key)

    def check_key_length(self, key: bytes) -> str | None:
        return self._key_length_warning if key is self.key else super().check_key_length(key)

    def sign(self, msg: bytes, key: bytes) -> bytes:
        if key is not self.key:
            return super().sign(msg, key)
        mac = self._keyed.copy()
        mac.update(msg)
        return mac.digest()


def _is_der_key(key: bytes) -> bool:
    """PyJWT's screen of an HMAC secret for a DER public key or certificate, which it runs only
    when it has cryptography (ours is imported without, see the imports). A DER structure is one
    ASN.1 SEQUENCE whose length header spans the whole key; only a key framed so is handed to
    cryptography, imported then: a secret of ours never is, so workers never load it."""
    if not _framed_as_der_sequence(key):
        return False
    if jwt.algorithms.has_crypto:
        return False  # PyJWT's own prepare_key has run the same check already
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    for load in (load_der_public_key, x509.load_der_x509_certificate):
        try:
            load(key)
        except (TypeError, ValueError, UnsupportedAlgorithm):
            continue
        return True
    return False


def _framed_as_der_sequence(key: bytes) -> bool:
    if len(key) < 2 or key[0] != 0x30:  # the SEQUENCE tag
        return False
    if key[1] < 0x80:  # short form: the length itself
        return 2 + key[1] == len(key)
    octets = key[1] & 0x7F  # long form: that many length octets follow
    if octets == 0 or len(key) < 2 + octets:
        return False
    return 2 + octets + int.from_bytes(key[2 : 2 + octets], "big") == len(key)


_HASHES: dict[str, Callable[[], Any]] = {
    "HS256": hashlib.sha256,
    "HS384": hashlib.sha384,
    "HS512": hashlib.sha512,
}


class _Codec(jwt.PyJWT):
    """PyJWT's encode and decode, with every check they make (the pinned algorithm, the
    signature, `exp` with leeway, the required claims), for one key of ours: the key is
    prepared once (`_PreparedHMAC`) and only our algorithm is known to its JWS layer."""

    def __init__(self, algorithm: str, secret: str) -> None:
        super().__init__(options={"require": list(_REQUIRED_CLAIMS)})
        prepared = _PreparedHMAC(_HASHES[algorithm], secret)
        self.key = prepared.key
        jws = PyJWS(algorithms=[algorithm], options=self._get_sig_options())
        jws.unregister_algorithm(algorithm)
        jws.register_algorithm(algorithm, prepared)
        # PyJWT's own JWS layer, replaced by one that knows the prepared key. Were a PyJWT
        # release to name it otherwise, decoding would stay correct (PyJWT prepares `key`
        # per decode again), only slower.
        if isinstance(getattr(self, "_jws", None), PyJWS):
            self._jws = jws


def _require_positive(ttl: timedelta, what: str) -> None:
    if ttl < timedelta(seconds=1):
        raise ValueError(f"{what} must be at least one second")


def _parse_subject(sub: object) -> int:
    # Only the canonical decimal form we issue: `int()` alone would also take " 7", "+7", "0_7"
    # and non-ASCII digits, which no token of ours ever contains.
    if isinstance(sub, str) and sub.isascii() and sub.isdigit() and str(int(sub)) == sub:
        return int(sub)
    raise InvalidToken("sub is not a user id")


def _extra_claims(payload: Mapping[str, Any]) -> dict[str, str | int]:
    extra: dict[str, str | int] = {}
    for name, value in payload.items():
        if name in RESERVED_CLAIMS:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidToken(f"claim {name!r} has an unexpected type")
        extra[name] = value
    return extra
