"""IN-03: request bodies are bounded. A 60 MB JSON body is answered 413 (SPEC §0 shape) before
more than cap + 64 KiB has been pulled from the ASGI receive channel; a validation error stays
a few KiB whatever was sent. The multipart uploads keep their own (image-sized) cap and the
payment webhooks theirs."""

from __future__ import annotations

import io
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from starlette.types import Message, Receive, Scope, Send

from tests.auth.flows import FRONTEND, Mail, signed_up_and_verified

KiB = 1024
MB = 1000 * 1000
CHUNK = 64 * KiB
SIGNUP = "/api/v1/auth/signup"


@dataclass
class ReceiveMeter:
    """Wraps the app and counts the body bytes it pulls from the receive channel."""

    app: FastAPI
    pulled: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counting_receive() -> Message:
            message = await receive()
            self.pulled += len(message.get("body", b""))
            return message

        await self.app(scope, counting_receive, send)


@pytest.fixture
async def metered(app: FastAPI) -> AsyncIterator[tuple[ReceiveMeter, httpx.AsyncClient]]:
    meter = ReceiveMeter(app)
    transport = httpx.ASGITransport(app=meter, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND}
    ) as client:
        yield meter, client


async def sixty_megabytes() -> AsyncIterator[bytes]:
    yield b'{"name": "'
    chunk = b"a" * CHUNK
    for _ in range(60 * MB // CHUNK):
        yield chunk
    yield b'", "email": "a@example.com", "password": "long enough"}'


def _cap(app: FastAPI) -> int:
    cap: int = app.state.resources.settings.MAX_JSON_BODY_BYTES
    return cap


def _assert_payload_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.json()["detail"]["code"] == "PAYLOAD_TOO_LARGE"
    assert response.headers["X-Request-ID"]
    # The web app must be able to read the refusal (CORS headers on it).
    assert response.headers["access-control-allow-origin"] == FRONTEND


async def test_in03_streamed_60_mb_signup_is_413_after_at_most_cap_plus_64_kib(
    app: FastAPI, metered: tuple[ReceiveMeter, httpx.AsyncClient]
) -> None:
    meter, client = metered
    response = await client.post(
        SIGNUP, content=sixty_megabytes(), headers={"Content-Type": "application/json"}
    )
    _assert_payload_too_large(response)
    assert meter.pulled <= _cap(app) + 64 * KiB


async def test_in03_declared_60_mb_body_is_refused_before_reading_any_of_it(
    metered: tuple[ReceiveMeter, httpx.AsyncClient],
) -> None:
    meter, client = metered
    response = await client.post(
        SIGNUP,
        content=sixty_megabytes(),
        headers={"Content-Type": "application/json", "Content-Length": str(60 * MB)},
    )
    _assert_payload_too_large(response)
    assert meter.pulled == 0


async def test_in03_understated_content_length_is_still_cut_at_the_cap(
    app: FastAPI, metered: tuple[ReceiveMeter, httpx.AsyncClient]
) -> None:
    meter, client = metered
    response = await client.post(
        SIGNUP,
        content=sixty_megabytes(),
        headers={"Content-Type": "application/json", "Content-Length": "100"},
    )
    _assert_payload_too_large(response)
    assert meter.pulled <= _cap(app) + 64 * KiB


async def test_in03_body_at_the_cap_reaches_the_route_and_its_error_stays_small(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    name = "n" * (_cap(app) - 200)
    body = json.dumps({"name": name, "email": "a@example.com", "password": "long enough"})
    assert len(body) <= _cap(app)
    response = await client.post(SIGNUP, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert len(response.content) < 2 * KiB
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "name"]
    assert error["input"].startswith("nnnn")


async def test_in03_thousands_of_errors_answer_a_few_kib(client: httpx.AsyncClient) -> None:
    body = {f"extra{i}": "x" * 8 for i in range(2000)}
    response = await client.post(SIGNUP, json=body)
    assert response.status_code == 422
    assert len(response.content) < 8 * KiB
    assert len(response.json()["detail"]) >= 3  # the missing fields are named


async def test_in03_form_login_is_capped_too(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        content=b"username=a%40example.com&password=" + b"x" * (_cap(app) + 1),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _assert_payload_too_large(response)


async def test_in03_image_uploads_keep_their_own_image_sized_cap(
    app: FastAPI, client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    noise = Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    image = buffer.getvalue()
    assert len(image) > _cap(app)
    response = await client.post(
        "/api/v1/files/upload", files={"file": ("noise.png", image, "image/png")}
    )
    assert response.status_code == 200, response.text


async def test_in03_webhooks_have_their_own_cap(app: FastAPI, client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "application/json"}
    webhook_cap: int = app.state.resources.settings.MAX_WEBHOOK_BODY_BYTES
    larger_than_json = b'{"pad": "' + b"x" * (_cap(app) * 2) + b'"}'
    response = await client.post(
        "/api/v1/payments/webhook", content=larger_than_json, headers=headers
    )
    assert response.status_code != 413  # refused on its signature, not its size
    too_large = b"x" * (webhook_cap + 1)
    response = await client.post("/api/v1/payments/webhook", content=too_large, headers=headers)
    _assert_payload_too_large(response)
