"""JWT promises: AUTH-06 (forged tokens are refused) and the unit half of AUTH-03 (token types
are not interchangeable)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from app.auth.tokens import InvalidToken, TokenService, TokenType

# 64+ bytes, so even the HS512 forgery is signed with a key PyJWT considers long enough.
SECRET = "test-access-secret-" + "a" * 48
REFRESH_SECRET = "test-refresh-secret-" + "b" * 48
OTHER_SECRET = "somebody-elses-secret-" + "c" * 48
ACCESS_TTL = timedelta(minutes=15)


def make_service(clock: Callable[[], datetime] | None = None) -> TokenService:
    extra: dict[str, Any] = {} if clock is None else {"clock": clock}
    return TokenService(
        secret_key=SECRET,
        refresh_secret_key=REFRESH_SECRET,
        access_ttl=ACCESS_TTL,
        refresh_ttl=timedelta(days=30),
        **extra,
    )


@pytest.fixture
def service() -> TokenService:
    return make_service()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "sub": "42",
        "jti": "a-token-id",
        "typ": "access",
        "iat": now,
        "exp": now + 900,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    parts = (json.dumps(header).encode(), json.dumps(claims).encode())
    return ".".join(_b64url(part) for part in parts) + "."


def _signed(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _rs256() -> str:
    rsa = pytest.importorskip(
        "cryptography.hazmat.primitives.asymmetric.rsa",
        reason="cryptography is not installed; RS256 cannot be signed",
    )
    from tests.auth.rs256 import sign_rs256

    return sign_rs256(_claims(), rsa.generate_private_key(public_exponent=65537, key_size=2048))


def _tampered() -> str:
    header, _, signature = _signed(_claims()).split(".")
    return f"{header}.{_b64url(json.dumps(_claims(sub='1')).encode())}.{signature}"


def _issued_at(offset: timedelta) -> str:
    return make_service(lambda: datetime.now(UTC) + offset).issue(TokenType.ACCESS, 42).token


FORGERIES: dict[str, Callable[[], str]] = {
    "alg-none": lambda: _unsigned({"alg": "none", "typ": "JWT"}, _claims()),
    "alg-None-capitalised": lambda: _unsigned({"alg": "None", "typ": "JWT"}, _claims()),
    "wrong-key": lambda: _signed(_claims(), key=OTHER_SECRET),
    "hs512-with-our-key": lambda: _signed(_claims(), algorithm="HS512"),
    "rs256": _rs256,
    "payload-tampered": _tampered,
    "missing-exp": lambda: _signed(_claims(exp=None)),
    "expired": lambda: _issued_at(-(ACCESS_TTL + timedelta(seconds=30))),
    "issued-in-the-future": lambda: _issued_at(timedelta(minutes=10)),
    "missing-iat": lambda: _signed(_claims(iat=None)),
    "missing-jti": lambda: _signed(_claims(jti=None)),
    "empty-jti": lambda: _signed(_claims(jti="")),
    "missing-sub": lambda: _signed(_claims(sub=None)),
    "missing-typ": lambda: _signed(_claims(typ=None)),
    "wrong-typ": lambda: _signed(_claims(typ="admin")),
    "sub-not-a-number": lambda: _signed(_claims(sub="abc")),
    "sub-padded": lambda: _signed(_claims(sub=" 42")),
    "sub-signed": lambda: _signed(_claims(sub="+42")),
    "sub-leading-zero": lambda: _signed(_claims(sub="042")),
    "sub-non-ascii-digits": lambda: _signed(_claims(sub="٤٢")),
    "sub-as-json-number": lambda: _unsigned_then_sign({**_claims(), "sub": 42}),
    "extra-claim-of-odd-type": lambda: _signed(_claims(scopes=["admin"])),
    "garbage": lambda: "not-a-jwt",
    "empty": lambda: "",
    "three-garbage-parts": lambda: "a.b.c",
}


def _unsigned_then_sign(claims: dict[str, Any]) -> str:
    # PyJWT refuses to *encode* a non-string sub in some versions; sign the bytes ourselves.
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = jwt.get_algorithm_by_name("HS256").sign(signing_input, SECRET.encode())
    return f"{header}.{payload}.{_b64url(signature)}"


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_auth06_forged_tokens_are_refused(service: TokenService, forge: Callable[[], str]) -> None:
    with pytest.raises(InvalidToken):
        service.decode(forge(), TokenType.ACCESS)


def test_the_forgery_helpers_make_tokens_that_pass_when_left_alone(service: TokenService) -> None:
    """Control for AUTH-06: the claims the forgeries start from are otherwise acceptable."""
    claims = service.decode(_signed(_claims()), TokenType.ACCESS)
    assert claims.sub == 42
    assert service.decode(_unsigned_then_sign(_claims()), TokenType.ACCESS).sub == 42


def test_expiry_allows_a_few_seconds_of_clock_skew() -> None:
    just_expired = make_service(lambda: datetime.now(UTC) - ACCESS_TTL - timedelta(seconds=2))
    token = just_expired.issue(TokenType.ACCESS, 7).token
    assert make_service().decode(token, TokenType.ACCESS).sub == 7


def test_issued_token_round_trips(service: TokenService) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    issued = service.issue(TokenType.ACCESS, 42, extra={"sid": "family-1", "ver": 3})
    claims = service.decode(issued.token, TokenType.ACCESS)
    assert claims.sub == 42
    assert claims.typ is TokenType.ACCESS
    assert claims.jti == issued.jti
    assert claims.exp == issued.expires_at
    assert claims.exp - claims.iat == ACCESS_TTL
    assert claims.iat >= before
    assert claims.extra == {"sid": "family-1", "ver": 3}


def test_every_token_carries_the_contract_claims(service: TokenService) -> None:
    issued = service.issue(TokenType.VERIFY_EMAIL, 5, ttl=timedelta(minutes=5), jti="chosen")
    payload = jwt.decode(issued.token, options={"verify_signature": False})
    assert set(payload) == {"sub", "jti", "typ", "iat", "exp"}
    assert payload["typ"] == "verify_email"
    assert payload["jti"] == "chosen"
    assert payload["exp"] - payload["iat"] == 300


def test_jtis_are_random_and_url_safe(service: TokenService) -> None:
    jtis = {service.issue(TokenType.REFRESH, 1).jti for _ in range(200)}
    assert len(jtis) == 200
    for jti in jtis:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", jti)  # >= 128 bits of token_urlsafe


ALL_TYPES = list(TokenType)
CROSSED = [
    (issued, expected) for issued in ALL_TYPES for expected in ALL_TYPES if issued != expected
]


@pytest.mark.parametrize(
    ("issued_as", "decoded_as"),
    CROSSED,
    ids=[f"{issued}-as-{expected}" for issued, expected in CROSSED],
)
def test_auth03_token_types_are_not_interchangeable(
    service: TokenService, issued_as: TokenType, decoded_as: TokenType
) -> None:
    token = service.issue(issued_as, 42).token
    assert service.decode(token, issued_as).sub == 42
    with pytest.raises(InvalidToken):
        service.decode(token, decoded_as)


def test_auth03_refresh_key_alone_never_makes_an_access_token(service: TokenService) -> None:
    # Even with typ forged to "access", the refresh secret's signature fails as an access token,
    # and the access secret's signature fails as a refresh token.
    with pytest.raises(InvalidToken, match=r"[Ss]ignature"):
        service.decode(_signed(_claims(typ="access"), key=REFRESH_SECRET), TokenType.ACCESS)
    with pytest.raises(InvalidToken, match=r"[Ss]ignature"):
        service.decode(_signed(_claims(typ="refresh"), key=SECRET), TokenType.REFRESH)


@pytest.mark.parametrize("claim", ["sub", "typ", "exp", "jti", "iat", "aud"])
def test_extra_claims_cannot_override_registered_ones(service: TokenService, claim: str) -> None:
    with pytest.raises(ValueError, match="extra claims"):
        service.issue(TokenType.ACCESS, 1, extra={claim: "x"})


def test_issue_refuses_bad_subjects_and_lifetimes(service: TokenService) -> None:
    with pytest.raises(TypeError):
        service.issue(TokenType.ACCESS, True)
    with pytest.raises(TypeError):
        service.issue(TokenType.ACCESS, "42")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        service.issue(TokenType.ACCESS, 1, ttl=timedelta(0))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"algorithm": "none"}, "algorithm"),
        ({"algorithm": "RS256"}, "algorithm"),
        ({"refresh_secret_key": SECRET}, "differ"),
        ({"secret_key": ""}, "empty"),
        ({"access_ttl": timedelta(seconds=-1)}, "ttl"),
    ],
)
def test_service_refuses_unsafe_configuration(overrides: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {
        "secret_key": SECRET,
        "refresh_secret_key": REFRESH_SECRET,
        "access_ttl": ACCESS_TTL,
        "refresh_ttl": timedelta(days=30),
    }
    with pytest.raises(ValueError, match=message):
        TokenService(**{**settings, **overrides})


# An Ed25519 public key in DER (SubjectPublicKeyInfo) whose bytes are all ASCII, so it can be
# a str secret: PyJWT refuses it only with cryptography's help, which it is imported without.
_DER_PUBLIC_KEY = (bytes.fromhex("302a300506032b6570032100") + b"A" * 32).decode("ascii")
_PEM_PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    f"{base64.b64encode(_DER_PUBLIC_KEY.encode()).decode()}\n"
    "-----END PUBLIC KEY-----\n"
)


@pytest.mark.parametrize("secret", [_DER_PUBLIC_KEY, _PEM_PUBLIC_KEY], ids=["der", "pem"])
def test_an_asymmetric_key_is_refused_as_a_secret(secret: str) -> None:
    """A public key as the HMAC secret would let anyone who has it sign tokens (algorithm
    confusion): PyJWT's screen, kept for DER keys though PyJWT is loaded without cryptography."""
    with pytest.raises(jwt.InvalidKeyError, match="asymmetric key"):
        TokenService(
            secret_key=secret,
            refresh_secret_key=REFRESH_SECRET,
            access_ttl=ACCESS_TTL,
            refresh_ttl=timedelta(days=30),
        )


def test_a_secret_framed_like_der_but_no_key_is_accepted() -> None:
    """The DER screen parses only what is shaped like one ASN.1 SEQUENCE, and refuses only keys."""
    secret = "0" + chr(46) + "x" * 46
    service = TokenService(
        secret_key=secret,
        refresh_secret_key=REFRESH_SECRET,
        access_ttl=ACCESS_TTL,
        refresh_ttl=timedelta(days=30),
    )
    token = service.issue(TokenType.ACCESS, 7).token
    assert service.decode(token, TokenType.ACCESS).sub == 7


def test_default_ttls_are_exposed(service: TokenService) -> None:
    assert service.ttl(TokenType.ACCESS) == ACCESS_TTL
    assert service.ttl(TokenType.REFRESH) == timedelta(days=30)
