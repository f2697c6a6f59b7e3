"""A loopback Google for tests: the OpenID Connect endpoints of external-apis.md §5.3, served by
uvicorn on 127.0.0.1 in a background thread, signing ID tokens with its own RSA key.

Real HTTP rather than an in-process transport: authlib opens its own httpx clients, and a
transport passed through `client_kwargs` breaks when authlib switches to httpx2 (§0).

    async with FakeGoogle() as google:
        google.account = GoogleAccount(email_verified=False)
        google.behaviour = Behaviour(audience="someone-else")
        ...
        assert google.token_calls == 0
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlencode

import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.auth.rs256 import public_jwk, sign_rs256

CLIENT_ID = "hairtryon-test.apps.googleusercontent.com"
CLIENT_SECRET = "test-google-client-secret"
SCOPE = "openid email profile"
KEY_ID = "fake-google-1"
STARTUP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class GoogleAccount:
    """Who signs in at the fake Google."""

    sub: str = "110169484474386276334"
    email: str | None = "  Ada.Lovelace@Example.COM "
    email_verified: bool = True
    name: str | None = "Ada Lovelace"
    picture: str | None = "https://lh3.googleusercontent.com/a/ada"
    # False: name and picture are only available from /userinfo.
    profile_in_id_token: bool = True
    # None: /userinfo describes the same subject as the ID token.
    userinfo_sub: str | None = None


@dataclass(frozen=True)
class Behaviour:
    """How the fake Google misbehaves; the defaults are a correct provider."""

    # e.g. "access_denied": /authorize redirects back with `error=` instead of a code.
    authorize_error: str | None = None
    # ID token claims; None means the correct value.
    audience: str | list[str] | None = None
    authorized_party: str | None = None
    issuer: str | None = None
    nonce: str | None = None
    lifetime_s: int = 3600
    # Sign with a key that is not in the JWKS.
    foreign_key: bool = False
    include_id_token: bool = True
    # >= 500: the token endpoint answers with an HTML-ish error page, like a failing gateway.
    token_status: int = 200
    token_delay_s: float = 0.0
    # >= 400: /userinfo fails.
    userinfo_status: int = 200


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None


@functools.cache
def _rsa_key(name: str) -> rsa.RSAPrivateKey:
    # One key per name per test run: generating 2048-bit keys per test would dominate run time.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _at_hash(access_token: str) -> str:
    # OIDC Core §3.1.3.6: left half of SHA-256 of the access token, base64url without padding.
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _form_text(form: FormData, key: str) -> str | None:
    value = form.get(key)
    return value if isinstance(value, str) else None


@dataclass
class _Log:
    requests: list[str] = field(default_factory=list)
    authorize_params: list[dict[str, str]] = field(default_factory=list)


class FakeGoogle:
    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        issuer: str | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.account = GoogleAccount()
        self.behaviour = Behaviour()
        self._log = _Log()
        self._grants: dict[str, _Grant] = {}
        self._access_tokens: set[str] = set()
        # Bound before the server starts, so the URLs are known and no other process can take
        # the port in between.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        port = int(self._socket.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{port}"
        self.issuer = issuer or self.base_url
        config = uvicorn.Config(
            self._asgi,
            loop="asyncio",
            http="h11",
            interface="asgi3",  # auto-detection takes a bound method for ASGI2
            lifespan="off",
            access_log=False,
            log_config=None,  # leave the process's logging configuration alone
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
                Route("/jwks", self._jwks),
                Route("/userinfo", self._userinfo),
            ]
        )

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"

    @property
    def requests(self) -> list[str]:
        """Every request received, as "METHOD /path", in order."""
        return list(self._log.requests)

    @property
    def token_calls(self) -> int:
        return self._log.requests.count("POST /token")

    @property
    def authorize_params(self) -> list[dict[str, str]]:
        """The query of every /authorize request, to check what the client asked for."""
        return list(self._log.authorize_params)

    async def __aenter__(self) -> Self:
        # A thread, not a task: uvicorn's loop stays independent of the test's, and a test that
        # blocks cannot starve the provider.
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise RuntimeError("the fake Google did not start")
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, STARTUP_TIMEOUT_S)
        self._socket.close()

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self._log.requests.append(f"{scope['method']} {scope['path']}")
        await self._app(scope, receive, send)

    async def _discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.base_url}/authorize",
                "token_endpoint": f"{self.base_url}/token",
                "userinfo_endpoint": f"{self.base_url}/userinfo",
                "jwks_uri": f"{self.base_url}/jwks",
                "response_types_supported": ["code", "token", "id_token", "code id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "claims_supported": [
                    "aud",
                    "email",
                    "email_verified",
                    "exp",
                    "iat",
                    "iss",
                    "name",
                    "picture",
                    "sub",
                ],
                "code_challenge_methods_supported": ["plain", "S256"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
            }
        )

    async def _authorize(self, request: Request) -> Response:
        query = request.query_params
        self._log.authorize_params.append(dict(query))
        redirect_uri = query.get("redirect_uri")
        scopes = query.get("scope", "").split()
        # Like Google, a broken request gets an error page, never a redirect to an unchecked URI.
        if query.get("client_id") != self.client_id or not redirect_uri:
            return PlainTextResponse("invalid_client or redirect_uri", status_code=400)
        if query.get("response_type") != "code" or "openid" not in scopes:
            return PlainTextResponse("invalid_request", status_code=400)
        params: dict[str, str] = {}
        if self.behaviour.authorize_error:
            params["error"] = self.behaviour.authorize_error
        else:
            code = secrets.token_urlsafe(24)
            self._grants[code] = _Grant(self.client_id, redirect_uri, query.get("nonce"))
            params.update(code=code, scope=SCOPE)
        state = query.get("state")
        if state is not None:
            params["state"] = state
        return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

    async def _token(self, request: Request) -> Response:
        behaviour = self.behaviour
        if behaviour.token_delay_s:
            await asyncio.sleep(behaviour.token_delay_s)
        if behaviour.token_status >= 500:
            return PlainTextResponse("<h1>Server Error</h1>", status_code=behaviour.token_status)
        form = await request.form()
        if self._client_credentials(request, form) != (self.client_id, self.client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if _form_text(form, "grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        # A code is single-use, and bound to the redirect URI it was issued for.
        grant = self._grants.pop(_form_text(form, "code") or "", None)
        if grant is None or grant.redirect_uri != _form_text(form, "redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        access_token = secrets.token_urlsafe(32)
        self._access_tokens.add(access_token)
        body: dict[str, object] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3599,
            "scope": SCOPE,
        }
        if behaviour.include_id_token:
            body["id_token"] = self._id_token(grant, access_token)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def _client_credentials(self, request: Request, form: FormData) -> tuple[str, str] | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            try:
                decoded = base64.b64decode(header.removeprefix("Basic ")).decode("latin-1")
            except ValueError:
                return None
            client_id, _, client_secret = decoded.partition(":")
            return unquote(client_id), unquote(client_secret)
        posted_id = _form_text(form, "client_id")
        posted_secret = _form_text(form, "client_secret")
        if posted_id is None or posted_secret is None:
            return None
        return posted_id, posted_secret

    def _id_token(self, grant: _Grant, access_token: str) -> str:
        behaviour, account = self.behaviour, self.account
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": behaviour.issuer or self.issuer,
            "azp": behaviour.authorized_party or grant.client_id,
            "aud": behaviour.audience or grant.client_id,
            "sub": account.sub,
            "iat": now,
            "exp": now + behaviour.lifetime_s,
            "at_hash": _at_hash(access_token),
        }
        nonce = behaviour.nonce if behaviour.nonce is not None else grant.nonce
        if nonce is not None:
            claims["nonce"] = nonce
        if account.email is not None:
            claims["email"] = account.email
            claims["email_verified"] = account.email_verified
        if account.profile_in_id_token:
            claims.update(self._profile_claims())
        key = _rsa_key("foreign" if behaviour.foreign_key else "google")
        return sign_rs256(claims, key, headers={"kid": KEY_ID})

    def _profile_claims(self) -> dict[str, object]:
        account = self.account
        claims: dict[str, object] = {}
        if account.name is not None:
            claims["name"] = account.name
        if account.picture is not None:
            claims["picture"] = account.picture
        return claims

    async def _jwks(self, request: Request) -> Response:
        jwk = public_jwk(_rsa_key("google").public_key())
        jwk.update(kid=KEY_ID, alg="RS256", use="sig")
        return JSONResponse({"keys": [jwk]})

    async def _userinfo(self, request: Request) -> Response:
        if self.behaviour.userinfo_status >= 400:
            return JSONResponse(
                {"error": "server_error"}, status_code=self.behaviour.userinfo_status
            )
        header = request.headers.get("authorization", "")
        if header.removeprefix("Bearer ") not in self._access_tokens:
            return JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        account = self.account
        body: dict[str, object] = {"sub": account.userinfo_sub or account.sub}
        if account.email is not None:
            body.update(email=account.email, email_verified=account.email_verified)
        body.update(self._profile_claims())
        return JSONResponse(body)
