"""AUTH-10: Google sign-in is safe.

`GoogleOAuth` runs inside a two-route app with the SessionMiddleware settings app/auth/google.py
recommends, against a loopback Google (tests/auth/oidc_provider.py) reached over real HTTP.
The browser is played by hand: app → Google's /authorize → app callback, keeping the app's
session cookie, so each step can be tampered with.

An exception escaping `GoogleOAuth` would surface as an error in the test (ASGITransport
re-raises app exceptions), so every failure case also checks that nothing escapes.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.auth.google import GoogleOAuth, GoogleSignInFailed
from tests.auth.oidc_provider import CLIENT_ID, CLIENT_SECRET, Behaviour, FakeGoogle, GoogleAccount

API = "https://api.test"
LOGIN_PATH = "/api/v1/auth/google"
CALLBACK_URL = f"{API}/api/v1/auth/google/callback"


def _failure(exc: GoogleSignInFailed) -> JSONResponse:
    return JSONResponse({"error": str(exc), "reason": exc.reason}, status_code=400)


def build_app(google: GoogleOAuth) -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        SessionMiddleware,
        secret_key="test-session-secret",
        session_cookie="hairtryon_oauth",
        max_age=600,
        path=LOGIN_PATH,
        same_site="lax",
        https_only=True,
    )

    @app.get(LOGIN_PATH, response_model=None)
    async def login(request: Request) -> Response:
        try:
            return await google.authorization_redirect(request)
        except GoogleSignInFailed as exc:
            return _failure(exc)

    @app.get(f"{LOGIN_PATH}/callback", response_model=None)
    async def callback(request: Request) -> Response:
        try:
            identity = await google.identity_from_callback(request)
        except GoogleSignInFailed as exc:
            return _failure(exc)
        return JSONResponse(dataclasses.asdict(identity))

    return app


def google_client(idp: FakeGoogle, *, timeout: float = 5.0) -> GoogleOAuth:
    return GoogleOAuth(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        metadata_url=idp.metadata_url,
        redirect_url=CALLBACK_URL,
        timeout=timeout,
    )


def api_client(google: GoogleOAuth) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=build_app(google))
    return httpx.AsyncClient(transport=transport, base_url=API)


@pytest.fixture
async def idp() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


@pytest.fixture
async def client(idp: FakeGoogle) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(google_client(idp)) as api:
        yield api


async def go_to_google(client: httpx.AsyncClient, idp: FakeGoogle) -> str:
    """Start sign-in and pass through Google's /authorize; return where Google sends us back."""
    response = await client.get(LOGIN_PATH)
    assert response.status_code == 302, response.text
    authorize_url = response.headers["location"]
    assert authorize_url.startswith(f"{idp.base_url}/authorize?")
    # The browser at Google: a separate cookie jar, as the app's cookie is not Google's.
    async with httpx.AsyncClient() as browser:
        at_google = await browser.get(authorize_url)
    assert at_google.status_code == 302, at_google.text
    callback_url = at_google.headers["location"]
    assert callback_url.startswith(f"{CALLBACK_URL}?")
    return callback_url


async def sign_in(client: httpx.AsyncClient, idp: FakeGoogle) -> httpx.Response:
    return await client.get(await go_to_google(client, idp))


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def assert_failed(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == reason


async def test_auth10_sign_in_returns_the_verified_google_identity(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    response = await sign_in(client, idp)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "sub": "110169484474386276334",
        "email": "ada.lovelace@example.com",
        "email_verified": True,
        "name": "Ada Lovelace",
        "picture": "https://lh3.googleusercontent.com/a/ada",
    }
    [asked] = idp.authorize_params
    assert asked["scope"] == "openid email profile"
    assert asked["redirect_uri"] == CALLBACK_URL
    assert asked["nonce"]
    assert idp.token_calls == 1
    # Everything came from the ID token: no userinfo round trip.
    assert "GET /userinfo" not in idp.requests


async def test_auth10_unverified_google_email_is_reported_not_refused(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    idp.account = GoogleAccount(email_verified=False)

    response = await sign_in(client, idp)

    assert response.status_code == 200, response.text
    assert response.json()["email_verified"] is False


async def test_auth10_bad_state_fails_without_calling_google(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    callback_url = await go_to_google(client, idp)
    seen = idp.requests

    response = await client.get(with_query(callback_url, state="forged-state"))

    assert_failed(response, "state_mismatch")
    assert idp.requests == seen
    assert idp.token_calls == 0


async def test_auth10_missing_state_fails_without_calling_google(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    callback_url = await go_to_google(client, idp)
    code = parse_qs(urlsplit(callback_url).query)["code"][0]
    seen = idp.requests

    response = await client.get(f"{CALLBACK_URL}?{urlencode({'code': code})}")

    assert_failed(response, "state_mismatch")
    assert idp.requests == seen


async def test_auth10_callback_in_another_browser_fails_without_calling_google(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    """Login CSRF: an attacker's own callback URL opened in the victim's browser."""
    callback_url = await go_to_google(client, idp)
    seen = idp.requests

    async with api_client(google_client(idp)) as victim:
        response = await victim.get(callback_url)

    assert_failed(response, "state_mismatch")
    assert idp.requests == seen


async def test_auth10_replayed_callback_fails_without_a_second_token_call(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    callback_url = await go_to_google(client, idp)
    assert (await client.get(callback_url)).status_code == 200

    replay = await client.get(callback_url)

    assert_failed(replay, "state_mismatch")
    assert idp.token_calls == 1


async def test_auth10_cancelled_consent_fails_without_calling_the_token_endpoint(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    idp.behaviour = Behaviour(authorize_error="access_denied")

    response = await sign_in(client, idp)

    assert_failed(response, "access_denied")
    assert response.json()["error"] == "Google sign-in was cancelled."
    assert idp.token_calls == 0


@pytest.mark.parametrize(
    "behaviour",
    [
        # authlib alone accepts this one: it checks `aud` only through `azp`.
        pytest.param(Behaviour(audience="someone-else.apps.googleusercontent.com"), id="aud"),
        pytest.param(
            Behaviour(audience="someone-else", authorized_party="someone-else"), id="aud-and-azp"
        ),
        pytest.param(Behaviour(audience=["someone-else"]), id="aud-list"),
    ],
)
async def test_auth10_id_token_for_another_client_is_refused(
    client: httpx.AsyncClient, idp: FakeGoogle, behaviour: Behaviour
) -> None:
    idp.behaviour = behaviour

    response = await sign_in(client, idp)

    assert_failed(response, "invalid_id_token")


@pytest.mark.parametrize(
    "issuer",
    ["https://evil.example", "accounts.google.com", "https://accounts.google.com"],
)
async def test_auth10_id_token_from_another_issuer_is_refused(
    client: httpx.AsyncClient, idp: FakeGoogle, issuer: str
) -> None:
    # The Google spellings are refused too: this provider's discovery names its own issuer.
    idp.behaviour = Behaviour(issuer=issuer)

    response = await sign_in(client, idp)

    assert_failed(response, "invalid_id_token")


@pytest.mark.parametrize("issuer", ["https://accounts.google.com", "accounts.google.com"])
async def test_auth10_both_documented_google_issuers_are_accepted(issuer: str) -> None:
    async with FakeGoogle(issuer="https://accounts.google.com") as idp:
        idp.behaviour = Behaviour(issuer=issuer)
        async with api_client(google_client(idp)) as client:
            response = await sign_in(client, idp)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "behaviour",
    [
        pytest.param(Behaviour(foreign_key=True), id="unknown-signing-key"),
        pytest.param(Behaviour(nonce="replayed-nonce"), id="other-nonce"),
        pytest.param(Behaviour(lifetime_s=-600), id="expired"),
    ],
)
async def test_auth10_untrustworthy_id_token_is_refused(
    client: httpx.AsyncClient, idp: FakeGoogle, behaviour: Behaviour
) -> None:
    idp.behaviour = behaviour

    response = await sign_in(client, idp)

    assert_failed(response, "invalid_id_token")


async def test_auth10_token_answer_without_id_token_is_refused(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    idp.behaviour = Behaviour(include_id_token=False)

    response = await sign_in(client, idp)

    assert_failed(response, "missing_id_token")


async def test_auth10_google_account_without_email_is_refused(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    idp.account = GoogleAccount(email=None)

    response = await sign_in(client, idp)

    assert_failed(response, "missing_email")


async def test_auth10_token_endpoint_down_fails_cleanly(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    idp.behaviour = Behaviour(token_status=500)

    response = await sign_in(client, idp)

    assert_failed(response, "provider_error")
    # The user sees our sentence, not Google's page or an exception's text.
    assert response.json()["error"] == "Google could not sign you in. Please try again."


async def test_auth10_slow_token_endpoint_times_out_cleanly(idp: FakeGoogle) -> None:
    idp.behaviour = Behaviour(token_delay_s=2.0)

    async with api_client(google_client(idp, timeout=0.3)) as client:
        response = await sign_in(client, idp)

    assert_failed(response, "unreachable")


async def test_auth10_unreachable_google_fails_the_redirect_cleanly() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    google = GoogleOAuth(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        metadata_url=f"http://127.0.0.1:{port}/.well-known/openid-configuration",
        redirect_url=CALLBACK_URL,
        timeout=1.0,
    )

    async with api_client(google) as client:
        response = await client.get(LOGIN_PATH)

    assert_failed(response, "unreachable")


async def test_auth10_missing_profile_is_filled_from_userinfo(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    idp.account = GoogleAccount(profile_in_id_token=False)

    response = await sign_in(client, idp)

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Ada Lovelace"
    assert response.json()["picture"] == "https://lh3.googleusercontent.com/a/ada"
    assert "GET /userinfo" in idp.requests


async def test_auth10_userinfo_about_another_subject_is_ignored(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    idp.account = GoogleAccount(profile_in_id_token=False, userinfo_sub="someone-else")

    response = await sign_in(client, idp)

    assert response.status_code == 200, response.text
    assert response.json()["sub"] == "110169484474386276334"
    assert response.json()["name"] is None
    assert response.json()["picture"] is None


async def test_auth10_failing_userinfo_does_not_fail_sign_in(
    client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    """Userinfo only decorates the profile; the ID token alone proves who signed in."""
    idp.account = GoogleAccount(profile_in_id_token=False)
    idp.behaviour = Behaviour(userinfo_status=503)

    response = await sign_in(client, idp)

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "ada.lovelace@example.com"
    assert response.json()["name"] is None
    assert "GET /userinfo" in idp.requests
