from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from app.core.logging import mask_email
from app.integrations.email import (
    BrevoSender,
    EmailDeliveryError,
    OutgoingEmail,
    deliver_with_retries,
)

BASE_URL = "https://brevo.test"
SEND_URL = f"{BASE_URL}/v3/smtp/email"
MESSAGE = OutgoingEmail(
    to_email="ana@example.com",
    to_name="Ana",
    subject="Your HairTryOn sign-in code",
    html="<p>Your code is <b>482913</b></p>",
    text="Your code is 482913",
)


def _accepted() -> httpx.Response:
    return httpx.Response(201, json={"messageId": "<1@smtp-relay.mailin.fr>"})


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class BrokenSender:
    """A sender with a bug: raises something that is not an EmailDeliveryError."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: OutgoingEmail) -> None:
        self.calls += 1
        raise RuntimeError("bug in sender")


@pytest.fixture
def brevo_api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True) as router:
        yield router


@pytest.fixture
async def sender() -> AsyncIterator[BrevoSender]:
    brevo = BrevoSender(
        "xkeysib-test", sender_email="no-reply@hairtryon.app", sender_name="HT", base_url=BASE_URL
    )
    yield brevo
    await brevo.aclose()


async def test_429_then_201_delivers_once_after_one_retry_honouring_retry_after(
    brevo_api: respx.MockRouter, sender: BrevoSender
) -> None:
    route = brevo_api.post(SEND_URL).mock(
        side_effect=[httpx.Response(429, headers={"x-sib-ratelimit-reset": "2"}), _accepted()]
    )
    sleep = RecordingSleep()

    delivered = await deliver_with_retries(sender, MESSAGE, base_delay=0.01, sleep=sleep)

    assert delivered is True
    assert route.call_count == 2
    assert sleep.delays == [2.0]


async def test_permanent_400_is_not_retried(
    brevo_api: respx.MockRouter, sender: BrevoSender, caplog: pytest.LogCaptureFixture
) -> None:
    route = brevo_api.post(SEND_URL).respond(
        400, json={"code": "invalid_parameter", "message": "sender is not valid"}
    )
    sleep = RecordingSleep()

    with caplog.at_level(logging.INFO, logger="app.integrations.email"):
        delivered = await deliver_with_retries(sender, MESSAGE, sleep=sleep)

    assert delivered is False
    assert route.call_count == 1
    assert sleep.delays == []
    assert "not retryable" in caplog.text
    assert "invalid_parameter" in caplog.text


async def test_exhausted_attempts_return_false_and_log_without_the_body(
    brevo_api: respx.MockRouter, sender: BrevoSender, caplog: pytest.LogCaptureFixture
) -> None:
    route = brevo_api.post(SEND_URL).respond(503, text="maintenance")
    sleep = RecordingSleep()

    with caplog.at_level(logging.INFO, logger="app.integrations.email"):
        delivered = await deliver_with_retries(
            sender, MESSAGE, attempts=3, base_delay=0.5, sleep=sleep
        )

    assert delivered is False
    assert route.call_count == 3
    assert len(sleep.delays) == 2
    # Exponential with up to 50% jitter: 0.5..0.75 then 1.0..1.5.
    assert 0.5 <= sleep.delays[0] <= 0.75
    assert 1.0 <= sleep.delays[1] <= 1.5
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert mask_email("ana@example.com") in errors[0].getMessage()
    assert "ana@example.com" not in caplog.text
    assert "Your HairTryOn sign-in code" in errors[0].getMessage()
    assert "503" in errors[0].getMessage()
    assert "482913" not in caplog.text


async def test_a_long_retry_after_is_capped(
    brevo_api: respx.MockRouter, sender: BrevoSender
) -> None:
    brevo_api.post(SEND_URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "3600"}), _accepted()]
    )
    sleep = RecordingSleep()

    delivered = await deliver_with_retries(sender, MESSAGE, max_delay=5.0, sleep=sleep)

    assert delivered is True
    assert sleep.delays == [5.0]


async def test_timeouts_are_retried_until_delivered(
    brevo_api: respx.MockRouter, sender: BrevoSender
) -> None:
    route = brevo_api.post(SEND_URL).mock(
        side_effect=[httpx.ConnectTimeout("t1"), httpx.ReadTimeout("t2"), _accepted()]
    )
    sleep = RecordingSleep()

    delivered = await deliver_with_retries(sender, MESSAGE, sleep=sleep)

    assert delivered is True
    assert route.call_count == 3
    assert len(sleep.delays) == 2


async def test_an_unexpected_sender_exception_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = BrokenSender()
    sleep = RecordingSleep()

    with caplog.at_level(logging.INFO, logger="app.integrations.email"):
        delivered = await deliver_with_retries(broken, MESSAGE, sleep=sleep)

    assert delivered is False
    assert broken.calls == 1
    assert sleep.delays == []
    assert "bug in sender" in caplog.text


async def test_a_single_attempt_never_sleeps() -> None:
    class AlwaysBusy:
        async def send(self, message: OutgoingEmail) -> None:
            raise EmailDeliveryError("busy", retryable=True, retry_after=1.0)

    sleep = RecordingSleep()

    assert await deliver_with_retries(AlwaysBusy(), MESSAGE, attempts=1, sleep=sleep) is False
    assert sleep.delays == []
