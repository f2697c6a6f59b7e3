"""Google sign-in through the real app (AUTH-10): the callback always redirects to the web app,
accounts are linked only on a Google-verified email, and bad state never reaches Google."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.main import create_app
from app.models import User
from app.resources import Resources
from tests.auth.flows import FRONTEND, PASSWORD, new_email, sign_up
from tests.auth.oidc_provider import CLIENT_ID, CLIENT_SECRET, Behaviour, FakeGoogle
from tests.auth.test_google_client import with_query
from tests.conftest import build_test_resources

API = "http://testserver"
CALLBACK = f"{API}/api/v1/auth/google/callback"


@pytest.fixture
async def idp() -> AsyncIterator[FakeGoogle]:
    async with FakeGoogle() as fake:
        yield fake


@pytest.fixture
async def google_client(
    idp: FakeGoogle, settings: Settings, resources: Resources
) -> AsyncIterator[httpx.AsyncClient]:
    configured = settings.model_copy(
        update={
            "GOOGLE_CLIENT_ID": CLIENT_ID,
            "GOOGLE_CLIENT_SECRET": SecretStr(CLIENT_SECRET),
            "OIDC_METADATA_URL": idp.metadata_url,
            "REDIRECT_URL": CALLBACK,
        }
    )
    app = create_app(configured, resources=build_test_resources(configured, resources.database))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=API, headers={"Origin": FRONTEND}) as c,
    ):
        yield c


async def _to_google_and_back(client: httpx.AsyncClient, idp: FakeGoogle) -> str:
    start = await client.get("/api/v1/auth/google")
    assert start.status_code == 302
    assert start.headers["location"].startswith(f"{idp.base_url}/authorize?")
    async with httpx.AsyncClient() as browser:
        at_google = await browser.get(start.headers["location"])
    assert at_google.status_code == 302
    return str(at_google.headers["location"])


def _error_of(response: httpx.Response) -> str:
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{FRONTEND}/auth/callback?")
    query = parse_qs(urlsplit(location).query)
    assert "success" not in query
    return query["error"][0]


async def test_auth10_google_sign_in_creates_a_verified_user_and_signs_in(
    google_client: httpx.AsyncClient, idp: FakeGoogle, session: AsyncSession
) -> None:
    idp.account = dataclasses.replace(idp.account, email=new_email(), sub="google-sub-new")
    callback = await _to_google_and_back(google_client, idp)
    response = await google_client.get(callback)
    assert response.status_code == 302
    assert response.headers["location"] == f"{FRONTEND}/auth/callback?success=true"
    assert "access_token" in response.cookies
    me = (await google_client.get("/api/v1/user/me")).json()
    assert me["verified"] is True
    assert me["credits"] == 3
    assert me["userpic"] == idp.account.picture
    user = await session.scalar(select(User).where(User.google_sub == "google-sub-new"))
    assert user is not None
    assert user.hashed_password is None


async def test_auth10_bad_state_redirects_with_error_and_never_calls_google(
    google_client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    callback = await _to_google_and_back(google_client, idp)
    response = await google_client.get(with_query(callback, state="forged"))
    assert _error_of(response)
    assert idp.token_calls == 0


async def test_auth10_wrong_audience_redirects_with_error(
    google_client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    idp.behaviour = Behaviour(audience="someone-elses-client-id")
    callback = await _to_google_and_back(google_client, idp)
    assert _error_of(await google_client.get(callback))
    assert "access_token" not in google_client.cookies


async def test_auth10_unverified_google_email_never_links_an_account(
    google_client: httpx.AsyncClient, idp: FakeGoogle, session: AsyncSession
) -> None:
    email = new_email()
    await sign_up(google_client, email)
    idp.account = dataclasses.replace(idp.account, email=email, email_verified=False)
    callback = await _to_google_and_back(google_client, idp)
    assert "not verified" in _error_of(await google_client.get(callback))
    user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    assert user.google_sub is None


async def test_auth10_verified_google_email_takes_over_an_unverified_password_account(
    google_client: httpx.AsyncClient, idp: FakeGoogle, session: AsyncSession
) -> None:
    email = new_email()
    await sign_up(google_client, email)  # someone set a password without proving the address
    idp.account = dataclasses.replace(idp.account, email=email, sub="google-sub-owner")
    callback = await _to_google_and_back(google_client, idp)
    response = await google_client.get(callback)
    assert response.headers["location"] == f"{FRONTEND}/auth/callback?success=true"
    login = await google_client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert login.status_code == 401, "the unproven password must no longer work"
    user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    await session.refresh(user)
    assert (user.verified, user.google_sub) == (True, "google-sub-owner")


async def test_google_sign_in_refuses_to_relink_an_account_linked_to_another_google_account(
    google_client: httpx.AsyncClient, idp: FakeGoogle, session: AsyncSession
) -> None:
    """The account's email now belongs to a different Google account (a recycled address, a
    workspace re-provisioned): signing in with it must not move the account to that subject."""
    email = new_email()
    idp.account = dataclasses.replace(idp.account, email=email, sub="google-sub-first")
    first = await google_client.get(await _to_google_and_back(google_client, idp))
    assert first.headers["location"] == f"{FRONTEND}/auth/callback?success=true"
    google_client.cookies.clear()

    idp.account = dataclasses.replace(idp.account, email=email, sub="google-sub-other")
    response = await google_client.get(await _to_google_and_back(google_client, idp))
    assert "different Google account" in _error_of(response)
    assert "access_token" not in response.cookies
    user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    await session.refresh(user)
    assert user.google_sub == "google-sub-first"
    # The original Google account still signs in.
    idp.account = dataclasses.replace(idp.account, email=email, sub="google-sub-first")
    again = await google_client.get(await _to_google_and_back(google_client, idp))
    assert again.headers["location"] == f"{FRONTEND}/auth/callback?success=true"


async def test_google_profile_name_loses_its_control_characters(
    google_client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    """Google's name never went through our form; it reaches email headers all the same."""
    idp.account = dataclasses.replace(
        idp.account, email=new_email(), sub="google-sub-crlf", name="Ada\r\nBcc: x@evil.example"
    )
    response = await google_client.get(await _to_google_and_back(google_client, idp))
    assert response.headers["location"] == f"{FRONTEND}/auth/callback?success=true"
    me = (await google_client.get("/api/v1/user/me")).json()
    assert me["name"] == "Ada Bcc: x@evil.example"


async def test_google_access_denied_redirects_with_error(
    google_client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    idp.behaviour = Behaviour(authorize_error="access_denied")
    callback = await _to_google_and_back(google_client, idp)
    assert _error_of(await google_client.get(callback))


async def test_google_routes_redirect_with_error_when_not_configured(
    client: httpx.AsyncClient,
) -> None:
    start = await client.get("/api/v1/auth/google")
    assert "not available" in _error_of(start)
    callback = await client.get("/api/v1/auth/google/callback", params={"code": "x", "state": "y"})
    assert _error_of(callback)


async def test_google_profile_picture_is_copied_into_our_storage(
    google_client: httpx.AsyncClient, idp: FakeGoogle
) -> None:
    """Google's picture host is faked at the HTTP boundary (respx behind the real
    SSRF-checking fetcher, DNS answered by a stub); the copy runs after sign-in commits."""
    import respx

    from app.integrations.fetcher import SafeFetcher
    from tests.files.images import png

    async def public_address(host: str, port: int) -> list[str]:
        return ["142.250.64.1"]  # a public address; respx answers for it

    app_resources = google_client._transport.app.state.resources  # type: ignore[attr-defined]
    app_resources.picture_fetcher = SafeFetcher(
        allowed_hosts=frozenset({".googleusercontent.com"}),
        max_bytes=1_000_000,
        timeout=5,
        resolver=public_address,
    )
    idp.account = dataclasses.replace(idp.account, email=new_email(), sub="google-sub-pic")
    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()
        picture = router.get("https://142.250.64.1/a/ada").respond(
            200, content=png(), headers={"content-type": "image/png"}
        )
        callback = await _to_google_and_back(google_client, idp)
        assert (await google_client.get(callback)).status_code == 302
        await app_resources.database.background.drain()
    assert picture.call_count == 1
    assert picture.calls.last.request.headers["host"] == "lh3.googleusercontent.com"
    userpic = (await google_client.get("/api/v1/user/me")).json()["userpic"]
    assert "/media/profilepic/user_" in userpic
    stored = await google_client.get(httpx.URL(userpic).raw_path.decode())
    assert stored.status_code == 200
    assert stored.headers["content-type"] == "image/png"
