from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from app.core.logging import mask_email
from app.integrations.email import BrevoSender, EmailDeliveryError, OutgoingEmail

BASE_URL = "https://brevo.test"
API_KEY = "xkeysib-test-secret-0123456789"
SEND_URL = f"{BASE_URL}/v3/smtp/email"
MESSAGE = OutgoingEmail(
    to_email="ana@example.com",
    to_name="Ana",
    subject="Your HairTryOn sign-in code",
    html="<p>Your code is <b>482913</b></p>",
    text="Your code is 482913",
)


@pytest.fixture
def brevo_api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True) as router:
        yield router


@pytest.fixture
async def sender() -> AsyncIterator[BrevoSender]:
    brevo = BrevoSender(
        API_KEY, sender_email="no-reply@hairtryon.app", sender_name="HairTryOn", base_url=BASE_URL
    )
    yield brevo
    await brevo.aclose()


async def _send_expecting_error(sender: BrevoSender) -> EmailDeliveryError:
    with pytest.raises(EmailDeliveryError) as caught:
        await sender.send(MESSAGE)
    return caught.value


async def test_brevo_posts_the_documented_payload_and_headers(
    brevo_api: respx.MockRouter, sender: BrevoSender
) -> None:
    route = brevo_api.post(SEND_URL).respond(201, json={"messageId": "<1@smtp-relay.mailin.fr>"})

    await sender.send(MESSAGE)

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.headers["api-key"] == API_KEY
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert json.loads(request.content) == {
        "sender": {"name": "HairTryOn", "email": "no-reply@hairtryon.app"},
        "to": [{"email": "ana@example.com", "name": "Ana"}],
        "subject": "Your HairTryOn sign-in code",
        "htmlContent": "<p>Your code is <b>482913</b></p>",
        "textContent": "Your code is 482913",
    }


async def test_brevo_omits_a_blank_recipient_name(
    brevo_api: respx.MockRouter, sender: BrevoSender
) -> None:
    route = brevo_api.post(SEND_URL).respond(201, json={"messageId": "<2@smtp-relay.mailin.fr>"})
    nameless = OutgoingEmail("ana@example.com", " ", "Hi", "<p>hi</p>", "hi")

    await sender.send(nameless)

    assert json.loads(route.calls.last.request.content)["to"] == [{"email": "ana@example.com"}]


async def test_brevo_accepts_a_base_url_ending_in_v3(brevo_api: respx.MockRouter) -> None:
    route = brevo_api.post(SEND_URL).respond(201, json={"messageId": "<3@smtp-relay.mailin.fr>"})
    brevo = BrevoSender(
        API_KEY, sender_email="a@b.example", sender_name="A", base_url=f"{BASE_URL}/v3/"
    )

    await brevo.send(MESSAGE)
    await brevo.aclose()

    assert route.call_count == 1


async def test_brevo_201_with_message_id_succeeds_and_logs_no_body(
    brevo_api: respx.MockRouter, sender: BrevoSender, caplog: pytest.LogCaptureFixture
) -> None:
    brevo_api.post(SEND_URL).respond(201, json={"messageId": "<4@smtp-relay.mailin.fr>"})

    with caplog.at_level(logging.INFO, logger="app.integrations.email"):
        await sender.send(MESSAGE)

    assert "<4@smtp-relay.mailin.fr>" in caplog.text
    # The recipient by a stable reference, never the address (CFG-04).
    assert mask_email("ana@example.com") in caplog.text
    assert "ana@example.com" not in caplog.text
    assert "482913" not in caplog.text
    assert API_KEY not in caplog.text


async def test_brevo_401_is_not_retryable_and_does_not_leak_the_key(
    brevo_api: respx.MockRouter, sender: BrevoSender
) -> None:
    brevo_api.post(SEND_URL).respond(401, json={"code": "unauthorized", "message": "Key not found"})

    error = await _send_expecting_error(sender)

    assert error.retryable is False
    assert "401" in str(error)
    assert "unauthorized" in str(error)
    assert "Key not found" in str(error)
    assert API_KEY not in str(error)
    assert API_KEY not in repr(error)


async def test_brevo_error_text_echoing_the_key_is_redacted(
    brevo_api: respx.MockRouter, sender: BrevoSender
) -> None:
    brevo_api.post(SEND_URL).respond(403, text=f"forbidden for key {API_KEY}")

    error = await _send_expecting_error(sender)

    assert error.retryable is False
    assert "forbidden for key" in str(error)
    assert API_KEY not in str(error)


async def test_brevo_400_is_not_retryable_and_names_brevo_code(
    brevo_api: respx.MockRouter, sender: BrevoSender
) -> None:
    brevo_api.post(SEND_URL).respond(
        400, json={"code": "invalid_parameter", "message": "sender is not valid"}
    )

    error = await _send_expecting_error(sender)

    assert error.retryable is False
    assert error.retry_after is None
    assert "invalid_parameter: sender is not valid" in str(error)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-sib-ratelimit-reset": "3"}, 3.0),
        ({"Retry-After": "7", "x-sib-ratelimit-reset": "3"}, 7.0),
        ({}, None),
    ],
)
async def test_brevo_429_is_retryable_with_retry_after(
    brevo_api: respx.MockRouter,
    sender: BrevoSender,
    headers: dict[str, str],
    expected: float | None,
) -> None:
    brevo_api.post(SEND_URL).respond(
        429, headers=headers, json={"code": "too_many_requests", "message": "slow down"}
    )

    error = await _send_expecting_error(sender)

    assert error.retryable is True
    assert error.retry_after == expected


async def test_brevo_429_with_http_date_retry_after_gives_seconds(
    brevo_api: respx.MockRouter, sender: BrevoSender
) -> None:
    brevo_api.post(SEND_URL).respond(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})

    error = await _send_expecting_error(sender)

    # A date in the past means "now", never a negative wait.
    assert error.retryable is True
    assert error.retry_after == 0.0


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_brevo_5xx_is_retryable(
    brevo_api: respx.MockRouter, sender: BrevoSender, status: int
) -> None:
    brevo_api.post(SEND_URL).respond(status, text="<html>upstream error</html>")

    error = await _send_expecting_error(sender)

    assert error.retryable is True
    assert str(status) in str(error)


async def test_brevo_connect_timeout_is_retryable(
    brevo_api: respx.MockRouter, sender: BrevoSender
) -> None:
    brevo_api.post(SEND_URL).mock(side_effect=httpx.ConnectTimeout("timed out"))

    error = await _send_expecting_error(sender)

    assert error.retryable is True
    assert "ConnectTimeout" in str(error)


async def test_brevo_connection_refused_is_retryable(
    brevo_api: respx.MockRouter, sender: BrevoSender
) -> None:
    brevo_api.post(SEND_URL).mock(side_effect=httpx.ConnectError("connection refused"))

    error = await _send_expecting_error(sender)

    assert error.retryable is True


async def test_brevo_refuses_an_empty_api_key() -> None:
    with pytest.raises(ValueError, match="API key"):
        BrevoSender(" ", sender_email="a@b.example", sender_name="A")


async def test_brevo_aclose_leaves_an_injected_client_open(brevo_api: respx.MockRouter) -> None:
    brevo_api.post(SEND_URL).respond(201, json={"messageId": "<5@smtp-relay.mailin.fr>"})
    async with httpx.AsyncClient() as client:
        brevo = BrevoSender(
            API_KEY, sender_email="a@b.example", sender_name="A", base_url=BASE_URL, client=client
        )
        await brevo.send(MESSAGE)
        await brevo.aclose()

        assert client.is_closed is False
