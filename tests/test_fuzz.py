"""FUZZ-01 and FUZZ-02: schemathesis over every operation of the app's own OpenAPI document.

FUZZ-01: as a verified user, schema-valid and schema-invalid requests for each operation
never answer 5xx, every answer's status is documented and every documented answer matches
its schema. Each operation is fuzzed once freely, then, where it names one, with the user's
real resources pinned (a finished image, a live share link, an upload, a checkout, a fresh
presigned form; payment webhooks signed with the provider's secret), so the cases reach the
operation's own logic and not only "not found". Deletes that destroy those resources run last.
FUZZ-02: the same operations as anonymous, with an expired token, and as another user aimed
at the first user's resources (path, query and body) answer only 400/401/403/404/422/429 on
owner-only operations.

The real app runs in process on the test's database transaction. Hypothesis drives the cases
from a worker thread; each request is handed to the test's event loop, which owns the app
and its database connection. Examples per operation: FUZZ_MAX_EXAMPLES (default 25, per
generation mode), deterministic (derandomised) so a failure is reproducible. Each test prints
"N operations, M cases, K x 5xx" (run with -s; FUZZ_REPORT=1 adds cases and statuses per
operation). About 2-3 minutes for both tests on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.tokens import TokenService, TokenType
from app.core.config import Settings
from app.core.db import Database
from app.integrations.payments.local import WEBHOOK_PATH, LocalCheckout
from app.integrations.payments.webhooks import sign
from app.main import create_app
from tests.auth.flows import FRONTEND, PASSWORD, Mail, new_email, signed_up_and_verified
from tests.conftest import build_test_resources
from tests.generation.steps import first_style_id, generate, path_of, run_jobs, upload

pytestmark = pytest.mark.pg_only
AnyCase = schemathesis.Case[Any]
Operation = schemathesis.APIOperation[Any, Any, Any, Any]

# Examples per operation and generation mode (schema-valid, schema-invalid). The wrong-identity
# runs need fewer: almost every case stops at authentication.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
IDENTITY_EXAMPLES = max(1, MAX_EXAMPLES * 2 // 5)
BASE_URL = "http://testserver"
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
# What a caller without the right identity may get on an owner-only operation (SPEC §0).
REFUSALS = {400, 401, 403, 404, 422, 429}
# Declares a bearer but needs none: with no session it only clears cookies (always 200).
NOT_OWNER_ONLY = {
    ("POST", "/api/v1/auth/logout"),
    # Answers anyone whether they are signed in: 200 {"authenticated": false} by design.
    ("GET", "/api/v1/auth/session"),
}
# Destroy the resources (and, last, the identity) the operations before them are aimed at.
DESTRUCTIVE = (
    ("DELETE", "/api/v1/image/{image_id}/share"),
    ("DELETE", "/api/v1/image/{image_id}"),
    ("DELETE", "/api/v1/user/images"),
    ("DELETE", "/api/v1/user/me"),
)


@dataclass
class Bridge:
    """Sends requests from the Hypothesis thread through the test loop's client."""

    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    # When set, payment webhooks are signed as the provider signs them, so fuzzed payloads
    # reach the webhook's parsing and processing instead of stopping at the signature.
    webhook_secret: str | None = None
    _webhooks: int = 0

    def send(self, kwargs: dict[str, Any]) -> httpx.Response:
        future = asyncio.run_coroutine_threadsafe(self._send(kwargs), self.loop)
        return future.result(timeout=120)

    async def _send(self, kwargs: dict[str, Any]) -> httpx.Response:
        request = self.client.build_request(**kwargs)
        # Buffer the body (multipart is a stream) so the checks can read the request back.
        body = await request.aread()
        if self.webhook_secret and request.url.path == WEBHOOK_PATH:
            self._webhooks += 1
            signed = sign(body, f"msg_fuzz_{self._webhooks}", int(time.time()), self.webhook_secret)
            request.headers.update(signed)
        return await self.client.send(request)


def httpx_kwargs(case: AnyCase, headers: dict[str, str]) -> dict[str, Any]:
    """schemathesis serialises for `requests`; the same request for httpx."""
    serialized = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    kwargs: dict[str, Any] = {
        "method": serialized["method"],
        "url": serialized["url"],
        "headers": serialized.get("headers") or {},
        "params": serialized.get("params") or None,
    }
    if "json" in serialized:
        kwargs["json"] = serialized["json"]
    data = serialized.get("data")
    if serialized.get("files"):
        # Multipart parts in `requests`' shapes (generated values may be any JSON type):
        # let `requests` encode them, as schemathesis would send them.
        prepared = requests.PreparedRequest()
        prepared.prepare_headers(None)
        prepared.prepare_body(data, serialized["files"])
        kwargs["content"] = prepared.body
        kwargs["headers"] = {**kwargs["headers"], "Content-Type": prepared.headers["Content-Type"]}
    elif isinstance(data, bytes | str):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    return kwargs


def fuzz_operation(
    bridge: Bridge,
    operation: Operation,
    *,
    headers: dict[str, str],
    judge: Callable[[AnyCase, httpx.Response], str | None],
    tally: Tally,
    path_parameters: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    body_fields: dict[str, Any] | None = None,
    every_case: bool = False,
    max_examples: int = MAX_EXAMPLES,
) -> list[str]:
    failures: list[str] = []
    sent: list[int] = []

    def cases(mode: GenerationMode) -> Any:
        return operation.as_strategy(mode, path_parameters=path_parameters, query=query)

    positive = cases(GenerationMode.POSITIVE)
    if body_fields and every_case:
        positive = positive.map(lambda case: _with_fields(case, body_fields))
    elif body_fields:
        # Real values into the generated body's fields of the same name (half of the cases),
        # so the operation's own logic runs past "no such upload/style/image".
        positive = st.tuples(positive, st.booleans()).map(
            lambda drawn: _with_fields(drawn[0], body_fields) if drawn[1] else drawn[0]
        )
    strategy = positive | cases(GenerationMode.NEGATIVE)

    @hypothesis.settings(
        max_examples=max_examples * 2,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(strategy)
    def run(case: AnyCase) -> None:
        try:
            kwargs = httpx_kwargs(case, headers)
            response = bridge.send(kwargs)
        except (UnicodeEncodeError, httpx.InvalidURL, httpx.LocalProtocolError, ValueError):
            return  # a request no HTTP client can send (e.g. a non-Latin-1 header)
        sent.append(response.status_code)
        problem = judge(case, response)
        if problem:
            failures.append(f"{operation.method.upper()} {operation.path}: {problem}")

    run()
    tally.add(f"{operation.method.upper()} {operation.path}", sent)
    return failures


def _with_fields(case: AnyCase, fields: dict[str, Any]) -> AnyCase:
    if isinstance(case.body, dict):
        case.body = {**case.body, **fields}
    return case


@dataclass
class Tally:
    """Cases sent and statuses seen per operation, for the summary a run prints."""

    name: str
    statuses: dict[str, list[int]]

    def add(self, operation: str, sent: list[int]) -> None:
        self.statuses.setdefault(operation, []).extend(sent)

    def summary(self) -> str:
        cases = sum(len(sent) for sent in self.statuses.values())
        errors = sum(status >= 500 for sent in self.statuses.values() for status in sent)
        lines = [
            f"  {operation}: {len(sent)} cases, statuses {sorted(set(sent))}"
            for operation, sent in self.statuses.items()
        ]
        head = f"{self.name}: {len(self.statuses)} operations, {cases} cases, {errors} x 5xx"
        return "\n".join([head, *lines]) if os.environ.get("FUZZ_REPORT") else head


def schema_judge(case: AnyCase, response: httpx.Response) -> str | None:
    try:
        case.validate_response(response, checks=CHECKS)
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis reports failures by raising
        return f"{response.status_code} {str(exc)[:600]} body={response.text[:200]!r}"
    return None


def refusal_judge(case: AnyCase, response: httpx.Response) -> str | None:
    if response.status_code not in REFUSALS:
        return f"answered {response.status_code}: {response.text[:200]!r}"
    return None


def operations(app: FastAPI) -> list[Operation]:
    schema = schemathesis.openapi.from_dict(app.openapi())
    found: list[Operation] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        found.append(result.ok())
    key = {operation: rank for rank, operation in enumerate(DESTRUCTIVE, start=1)}
    return sorted(found, key=lambda op: key.get((op.method.upper(), op.path), 0))


def owner_only(operation: Operation) -> bool:
    key = (operation.method.upper(), operation.path)
    return bool(operation.definition.raw.get("security")) and key not in NOT_OWNER_ONLY


@pytest.fixture
async def fuzz_app(settings: Settings, connection: AsyncConnection) -> AsyncIterator[FastAPI]:
    """The test app with the local payment backend, so checkout and transactions run."""
    local = settings.model_copy(update={"PAYMENTS_BACKEND": "local"})
    resources = build_test_resources(local, Database(connection))
    app = create_app(local, resources=resources)
    async with app.router.lifespan_context(app):
        yield app
    # Background work (photo checks of fuzzed uploads) ends before the test's rollback.
    await resources.database.background.drain()


@pytest.fixture
async def fuzz_client(fuzz_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fuzz_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers={"Origin": FRONTEND}
    ) as client:
        yield client


def _mail(app: FastAPI) -> Mail:
    resources = app.state.resources
    return Mail(resources.settings.MAIL_DIR, resources.database.background)


async def _login(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text


@dataclass
class World:
    """The verified user's real resources, so pinned cases reach each operation's own logic:
    an upload, a finished image, a live share link, a checkout, a presigned form."""

    upload_key: str
    upload_url: str
    style_id: int
    image_id: int
    payment_id: str

    async def pins(self, client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
        """(path/query values, body fields): a fresh share link and presigned form each time,
        since sharing again retires the old link and a form is for one upload."""
        shared = await client.post(
            f"/api/v1/image/{self.image_id}/share", json={"expires_in_hours": 24}
        )
        token = path_of(shared.json()["url"]).rsplit("/", 1)[-1] if shared.is_success else "x"
        media = httpx.URL(self.upload_url)
        presigned = await client.get("/api/v1/files/presign", params={"file_type": "image/jpeg"})
        assert presigned.status_code == 200, presigned.text
        values = {
            "image_id": self.image_id,
            "payment_id": self.payment_id,
            "token": token,
            "key": self.upload_key,
            "file_type": "image/jpeg",
            "expires": media.params.get("expires"),
            "sig": media.params.get("sig"),
        }
        fields = {
            "image_input_url": self.upload_url,
            "style_id": self.style_id,
            "image_id": self.image_id,
            "userpic_key": self.upload_key,
            **presigned.json()["fields"],
        }
        return values, fields


async def _world(app: FastAPI, client: httpx.AsyncClient) -> World:
    stored = await upload(client)
    style_id = await first_style_id(client)
    started = await generate(client, stored["file_url"], style_id)
    assert started.status_code == 200, started.text
    await run_jobs(app.state.resources)
    checkout = await client.post("/api/v1/payments/checkout", json={"quantity": 10})
    assert checkout.status_code == 200, checkout.text
    world = World(
        stored["key"],
        stored["file_url"],
        style_id,
        int(started.json()["image_id"]),
        checkout.json()["session_id"],
    )
    status = await client.get(f"/api/v1/image/status/{world.image_id}")
    assert status.json()["status"] == "completed", status.text
    return world


def _pinned(
    operation: Operation, values: dict[str, Any], fields: dict[str, Any]
) -> dict[str, Any] | None:
    """The real values for this operation's parameters and body fields, or None if none."""
    path = {p.name: values[p.name] for p in operation.path_parameters if p.name in values}
    query = {p.name: values[p.name] for p in operation.query if p.name in values}
    body: dict[str, Any] = {}
    for alternative in operation.body:
        properties = alternative.definition.get("schema", {}).get("properties", {})
        body.update({name: fields[name] for name in properties if name in fields})
    if not (path or query or body):
        return None
    return {"path_parameters": path or None, "query": query or None, "body_fields": body or None}


async def test_fuzz01_no_5xx_and_answers_match_the_schema_as_a_verified_user(
    fuzz_app: FastAPI, fuzz_client: httpx.AsyncClient
) -> None:
    email = await signed_up_and_verified(fuzz_client, _mail(fuzz_app))
    world = await _world(fuzz_app, fuzz_client)
    provider = fuzz_app.state.resources.payments
    assert isinstance(provider, LocalCheckout)
    bridge = Bridge(asyncio.get_running_loop(), fuzz_client, provider.webhook_secret)
    tally = Tally("FUZZ-01 verified user", {})
    failures: list[str] = []
    ops = operations(fuzz_app)
    assert len(ops) >= 40
    for operation in ops:
        # Each operation starts signed in: the one before may have logged out.
        await _login(fuzz_client, email)
        values, fields = await world.pins(fuzz_client)
        failures += await asyncio.to_thread(
            fuzz_operation, bridge, operation, headers={}, judge=schema_judge, tally=tally
        )
        pinned = _pinned(operation, values, fields)
        if pinned is not None:
            failures += await asyncio.to_thread(
                fuzz_operation,
                bridge,
                operation,
                headers={},
                judge=schema_judge,
                tally=tally,
                **pinned,
            )
    print("\n" + tally.summary())
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


@dataclass
class Victim:
    email: str
    image_id: int
    upload_key: str
    upload_url: str
    session_id: str


async def _victim(app: FastAPI, client: httpx.AsyncClient) -> Victim:
    email = await signed_up_and_verified(client, _mail(app), new_email())
    stored = await upload(client)
    started = await generate(client, stored["file_url"], await first_style_id(client))
    assert started.status_code == 200, started.text
    # Finished, so sharing it is refused for want of ownership, not for being unfinished.
    await run_jobs(app.state.resources)
    checkout = await client.post("/api/v1/payments/checkout", json={"quantity": 10})
    assert checkout.status_code == 200, checkout.text
    return Victim(
        email,
        int(started.json()["image_id"]),
        stored["key"],
        stored["file_url"],
        checkout.json()["session_id"],
    )


def _expired_access_token(settings: Settings, user_id: int) -> str:
    past = datetime.now(UTC) - timedelta(days=2)
    issuer = TokenService(
        secret_key=settings.SECRET_KEY.get_secret_value(),
        refresh_secret_key=settings.REFRESH_SECRET_KEY.get_secret_value(),
        algorithm=settings.ALGORITHM,
        access_ttl=timedelta(minutes=5),
        refresh_ttl=timedelta(days=1),
        clock=lambda: past,
    )
    return issuer.issue(TokenType.ACCESS, user_id).token


async def test_fuzz02_wrong_identities_only_get_refusals_on_owner_only_operations(
    fuzz_app: FastAPI, fuzz_client: httpx.AsyncClient
) -> None:
    victim = await _victim(fuzz_app, fuzz_client)
    me = await fuzz_client.get("/api/v1/user/me")
    expired = _expired_access_token(fuzz_app.state.resources.settings, int(me.json()["id"]))
    fuzz_client.cookies.clear()
    loop = asyncio.get_running_loop()
    bridge = Bridge(loop, fuzz_client)
    secured = [op for op in operations(fuzz_app) if owner_only(op)]
    assert len(secured) >= 20
    tally = Tally("FUZZ-02 wrong identities", {})
    failures: list[str] = []

    # Anonymous, then a well-signed but expired bearer token of the victim.
    for identity in ({}, {"Authorization": f"Bearer {expired}"}):
        for operation in secured:
            failures += await asyncio.to_thread(
                fuzz_operation,
                bridge,
                operation,
                headers=identity,
                judge=refusal_judge,
                tally=tally,
                max_examples=IDENTITY_EXAMPLES,
            )

    # Another verified user aimed at the victim's image and transaction.
    await signed_up_and_verified(fuzz_client, _mail(fuzz_app), new_email())
    values = {
        "image_id": victim.image_id,
        "payment_id": victim.session_id,
        "key": victim.upload_key,
    }
    fields = {
        "image_input_url": victim.upload_url,
        "image_id": victim.image_id,
        "userpic_key": victim.upload_key,
    }
    aimed = 0
    for operation in secured:
        pinned = _pinned(operation, values, fields)
        if pinned is None:
            continue
        aimed += 1
        failures += await asyncio.to_thread(
            fuzz_operation,
            bridge,
            operation,
            headers={},
            judge=refusal_judge,
            tally=tally,
            max_examples=IDENTITY_EXAMPLES,
            # A body without the victim's values is the user's own business (their profile).
            every_case=True,
            **pinned,
        )
    # Status, like, dislike, share, unshare, delete of an image; one transaction; the upload's
    # check; generate and view-generate naming the victim's upload and image in their bodies.
    assert aimed >= 10
    # The victim's upload and image named in bodies.
    for method, path, body in (
        ("POST", "/api/v1/image/generate", {"image_input_url": victim.upload_url, "style_id": 1}),
        ("POST", "/api/v1/image/generate", {"image_input_url": victim.upload_key, "style_id": 1}),
        ("POST", "/api/v1/image/view-generate", {"image_id": victim.image_id}),
        ("PUT", "/api/v1/user/profile", {"userpic_key": victim.upload_key}),
    ):
        response = await fuzz_client.request(method, path, json=body)
        if response.status_code not in REFUSALS:
            failures.append(f"{method} {path} {body}: {response.status_code} {response.text}")
    print("\n" + tally.summary())
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
