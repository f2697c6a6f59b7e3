"""Google sign-in (OpenID Connect, authorization code flow) through authlib (external-apis.md §5).

`GoogleOAuth` sends the browser to Google and turns Google's answer into a `GoogleIdentity`.
It knows nothing of users or the database: linking an identity to an account is the auth
service's rule (link only when `email_verified`, otherwise create a verified user).

Wiring, once per process (the client caches Google's discovery document and keys):

    google = GoogleOAuth(
        client_id=settings.GOOGLE_CLIENT_ID,
        client_secret=settings.GOOGLE_CLIENT_SECRET,
        metadata_url=settings.OIDC_METADATA_URL,  # Google's discovery URL, or a fake IdP
        redirect_url=settings.REDIRECT_URL,       # exact, so a proxy cannot turn it into http://
    )

The app must have Starlette's `SessionMiddleware`: authlib keeps each sign-in's `state`, `nonce`
and redirect URI in `request.session` between `/google` and `/google/callback`. Recommended:

    app.add_middleware(
        SessionMiddleware,
        secret_key=<its own secret, not the JWT key>,
        session_cookie="hairtryon_oauth",  # not "session": sqladmin's login uses that name
        max_age=600,                       # a sign-in takes minutes; this also bounds the state
        path="/api/v1/auth/google",        # the cookie only travels to the two Google routes
        same_site="lax",                   # "strict" drops the cookie on Google's redirect back
        https_only=<API served over https>,
    )

Both methods raise only `GoogleSignInFailed`, whose message is safe to show to the user: the
callback route turns it into `{FRONTEND_URL}/auth/callback?error=<message>` (SPEC §1).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx
from starlette.requests import Request
from starlette.responses import Response

logger = logging.getLogger(__name__)

SCOPE = "openid email profile"
# Google documents both spellings for `iss`; its discovery document names the https one.
GOOGLE_ISSUER = "https://accounts.google.com"
GOOGLE_ISSUER_ALIASES = frozenset({GOOGLE_ISSUER, "accounts.google.com"})

FailureReason = Literal[
    "access_denied",
    "provider_error",
    "state_mismatch",
    "missing_id_token",
    "invalid_id_token",
    "missing_email",
    "unreachable",
    "unexpected",
]

_MESSAGES: dict[FailureReason, str] = {
    "access_denied": "Google sign-in was cancelled.",
    "provider_error": "Google could not sign you in. Please try again.",
    "state_mismatch": "Your Google sign-in expired or was started elsewhere. Please try again.",
    "missing_id_token": "Google did not confirm who you are. Please try again.",
    "invalid_id_token": "Google's answer could not be verified. Please try again.",
    "missing_email": "Your Google account did not share an email address.",
    "unreachable": "Google could not be reached. Please try again in a moment.",
    "unexpected": "Google sign-in failed. Please try again.",
}


class GoogleSignInFailed(Exception):
    """A sign-in that did not produce a trustworthy identity.

    `str(exc)` is a short sentence for the user (it ends up url-encoded in a redirect);
    `reason` is the machine-readable cause, for logs and tests.
    """

    def __init__(self, reason: FailureReason) -> None:
        super().__init__(_MESSAGES[reason])
        self.reason: FailureReason = reason
        self.message = _MESSAGES[reason]


@dataclass(frozen=True, slots=True)
class GoogleIdentity:
    sub: str
    email: str
    email_verified: bool
    name: str | None
    picture: str | None


class _OidcApp(Protocol):
    """The part of authlib's (untyped) StarletteOAuth2App this module relies on."""

    server_metadata: dict[str, object]

    async def authorize_redirect(self, request: Request, redirect_uri: str) -> Response: ...

    async def authorize_access_token(
        self, request: Request, *, claims_options: dict[str, dict[str, object]]
    ) -> dict[str, object]: ...

    async def userinfo(self, *, token: Mapping[str, object]) -> Mapping[str, object]: ...


class GoogleOAuth:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        metadata_url: str,
        redirect_url: str,
        timeout: float = 10.0,
    ) -> None:
        self._client_id = client_id
        self._redirect_url = redirect_url
        # authlib (with cryptography: ~12 MB per process) only where Google sign-in is on.
        from authlib.integrations.starlette_client import OAuth

        oauth = OAuth()
        # `timeout` reaches every httpx client authlib opens: discovery, token, JWKS, userinfo.
        self._app: _OidcApp = oauth.register(
            "google",
            client_id=client_id,
            client_secret=client_secret,
            server_metadata_url=metadata_url,
            client_kwargs={"scope": SCOPE, "timeout": timeout},
        )

    async def authorization_redirect(self, request: Request) -> Response:
        """The 302 to Google's consent page; `state` and `nonce` go into `request.session`."""
        try:
            return await self._app.authorize_redirect(request, self._redirect_url)
        except Exception as exc:
            # Only the discovery document is fetched here (once per process).
            raise _failure(_classify(exc), exc) from exc

    async def identity_from_callback(self, request: Request) -> GoogleIdentity:
        """Exchange the code and verify the ID token; every failure is `GoogleSignInFailed`.

        authlib checks `error=` and the session's `state` before any network call, then posts
        the code and validates the ID token's signature (JWKS), `exp`/`iat`, `nonce`, `azp` and
        `at_hash`. It checks `aud` only through `azp`, so `aud` and `iss` are pinned here.
        """
        try:
            token = await self._app.authorize_access_token(
                request, claims_options=self._claims_options()
            )
            claims = token.get("userinfo")
            if not isinstance(claims, Mapping):
                # We asked for `openid`: a code exchange without an ID token proves nothing.
                raise _failure("missing_id_token")
            return await self._identity(claims, token)
        except GoogleSignInFailed:
            raise
        except Exception as exc:
            raise _failure(_classify(exc), exc) from exc

    def _claims_options(self) -> dict[str, dict[str, object]]:
        # Built per call: authlib pops the `validate` hooks out of the dicts it is given.
        return {
            "iss": {"essential": True, "validate": self._is_expected_issuer},
            "aud": {"essential": True, "values": [self._client_id]},
            "sub": {"essential": True},
        }

    def _is_expected_issuer(self, _claims: object, value: object) -> bool:
        # authlib loads the discovery document before validating, so `issuer` is known here.
        issuer = self._app.server_metadata.get("issuer")
        if not isinstance(issuer, str) or not issuer:
            return False
        if issuer == GOOGLE_ISSUER:
            return value in GOOGLE_ISSUER_ALIASES
        return value == issuer

    async def _identity(
        self, claims: Mapping[str, object], token: Mapping[str, object]
    ) -> GoogleIdentity:
        sub = claims.get("sub")
        email = _text(claims.get("email"))
        # The account key: used exactly as Google sent it, never normalised.
        if not isinstance(sub, str) or not sub:
            raise _failure("invalid_id_token")
        if email is None or "@" not in email:
            raise _failure("missing_email")
        name = _text(claims.get("name"))
        picture = _text(claims.get("picture"))
        if name is None or picture is None:
            profile = await self._profile(sub, token)
            name = name or _text(profile.get("name"))
            picture = picture or _text(profile.get("picture"))
        return GoogleIdentity(
            sub=sub,
            email=email.lower(),
            email_verified=_is_true(claims.get("email_verified")),
            name=name,
            picture=picture,
        )

    async def _profile(self, sub: str, token: Mapping[str, object]) -> Mapping[str, object]:
        """Userinfo, only to fill a missing name or picture: its failure must not fail sign-in."""
        try:
            profile = await self._app.userinfo(token=token)
        except Exception as exc:
            logger.warning("google userinfo unavailable: %s", type(exc).__name__)
            return {}
        # OIDC Core §5.3.2: userinfo for another subject must not be used.
        if not isinstance(profile, Mapping) or profile.get("sub") != sub:
            logger.warning("google userinfo ignored: subject does not match the ID token")
            return {}
        return profile


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _is_true(value: object) -> bool:
    # A JSON boolean from Google; some older tokens carried the string "true".
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _classify(exc: Exception) -> FailureReason:
    # Only ever called by GoogleOAuth, which has imported authlib already.
    from authlib.integrations.base_client.errors import MismatchingStateError
    from authlib.integrations.starlette_client import OAuthError
    from joserfc.errors import JoseError

    if isinstance(exc, MismatchingStateError):
        return "state_mismatch"
    if isinstance(exc, OAuthError):
        # `error=` on the callback, or an error object from the token endpoint.
        return "access_denied" if exc.error == "access_denied" else "provider_error"
    if isinstance(exc, JoseError):
        return "invalid_id_token"
    if isinstance(exc, httpx.TransportError):
        # Connection refused, DNS failure, timeouts.
        return "unreachable"
    if isinstance(exc, httpx.HTTPStatusError | ValueError):
        # A 5xx from Google, or a body that is not the JSON object the protocol promises.
        return "provider_error"
    return "unexpected"


def _failure(reason: FailureReason, exc: Exception | None = None) -> GoogleSignInFailed:
    # Never log codes or tokens: the exception's type and authlib's error code are enough.
    detail = "" if exc is None else f": {type(exc).__name__}: {_short(exc)}"
    if reason == "unexpected":
        logger.error("google sign-in failed unexpectedly%s", detail, exc_info=exc)
    elif reason == "access_denied":
        logger.info("google sign-in cancelled by the user")
    else:
        logger.warning("google sign-in failed (%s)%s", reason, detail)
    return GoogleSignInFailed(reason)


def _short(exc: Exception) -> str:
    from authlib.integrations.starlette_client import OAuthError

    if isinstance(exc, OAuthError):
        return str(exc.error)
    return str(exc)[:200]
