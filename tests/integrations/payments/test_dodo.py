"""The Dodo adapter through the real SDK against the loopback fake Dodo (retries off)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.integrations.payments import (
    CheckoutRequest,
    CheckoutSession,
    InvalidPaymentPayload,
    InvalidWebhookSignature,
    PaymentEvent,
    PaymentProvider,
    PaymentProviderError,
    PaymentStatus,
    WebhookVerifier,
    parse_event,
)
from app.integrations.payments.dodo import DodoPayments
from tests.integrations.payments import dodo_objects as objects
from tests.integrations.payments.fake_dodo import FakeDodo

CHECKOUT = CheckoutRequest(
    product_id=objects.PRODUCT_ID,
    quantity=25,
    customer_email="ana@example.com",
    customer_name="Ana",
    metadata={"user_id": "42", "transaction_id": "tx_9"},
    return_url="https://app.hairtryon.test/billing/return",
)


@pytest.fixture(scope="module")
async def running_dodo() -> AsyncIterator[FakeDodo]:
    # One server per module: starting and stopping uvicorn costs ~0.2 s a test.
    async with FakeDodo() as fake:
        yield fake


@pytest.fixture
def dodo(running_dodo: FakeDodo) -> FakeDodo:
    running_dodo.reset()
    return running_dodo


@pytest.fixture
async def adapter(dodo: FakeDodo) -> AsyncIterator[DodoPayments]:
    payments = DodoPayments(
        dodo.api_key, mode="test_mode", base_url=dodo.base_url, timeout=5, max_retries=0
    )
    yield payments
    await payments.aclose()


async def provider_error(pending: Awaitable[object]) -> PaymentProviderError:
    with pytest.raises(PaymentProviderError) as caught:
        await pending
    return caught.value


def test_the_adapter_satisfies_the_port(adapter: DodoPayments) -> None:
    provider: PaymentProvider = adapter
    assert provider is adapter


async def test_create_checkout_sends_the_documented_body(
    dodo: FakeDodo, adapter: DodoPayments
) -> None:
    session = await adapter.create_checkout(CHECKOUT)

    assert dodo.checkout_requests == [
        {
            "product_cart": [{"product_id": objects.PRODUCT_ID, "quantity": 25}],
            "customer": {"email": "ana@example.com", "name": "Ana"},
            "metadata": {"user_id": "42", "transaction_id": "tx_9"},
            "return_url": "https://app.hairtryon.test/billing/return",
        }
    ]
    request = dodo.requests[-1]
    assert request.headers["authorization"] == f"Bearer {dodo.api_key}"
    assert request.headers["content-type"] == "application/json"
    assert isinstance(session, CheckoutSession)
    assert session.session_id.startswith("cks_")
    assert session.checkout_url == f"{dodo.base_url}/checkout/{session.session_id}"
    assert dodo.session(session.session_id).request == dodo.checkout_requests[0]
    assert session.checkout_url not in repr(session)


async def test_create_checkout_leaves_out_what_was_not_given(
    dodo: FakeDodo, adapter: DodoPayments
) -> None:
    bare = CheckoutRequest(
        product_id=objects.PRODUCT_ID, quantity=1, customer_email="b@example.com"
    )

    await adapter.create_checkout(bare)

    assert dodo.checkout_requests == [
        {
            "product_cart": [{"product_id": objects.PRODUCT_ID, "quantity": 1}],
            "customer": {"email": "b@example.com"},
            "metadata": {},
        }
    ]


async def test_the_hosted_checkout_page_exists(dodo: FakeDodo, adapter: DodoPayments) -> None:
    session = await adapter.create_checkout(CHECKOUT)

    async with httpx.AsyncClient() as client:
        page = await client.get(session.checkout_url)

    assert page.status_code == 200
    assert session.session_id in page.text


async def test_get_payment_maps_the_fields(dodo: FakeDodo, adapter: DodoPayments) -> None:
    registered = dodo.add_payment(
        status="succeeded",
        total_amount=12_500,
        currency="INR",
        metadata={"user_id": "42", "transaction_id": "tx_9", "is_gift": False},
        checkout_session_id="cks_given",
    )

    payment = await adapter.get_payment(registered["payment_id"])

    assert payment is not None
    assert payment.payment_id == registered["payment_id"]
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.provider_status == "succeeded"
    assert payment.total_amount_minor == 12_500
    assert payment.currency == "INR"
    assert payment.metadata == {"user_id": "42", "transaction_id": "tx_9", "is_gift": "false"}
    assert payment.checkout_session_id == "cks_given"
    assert dodo.requests[-1].path == f"/payments/{registered['payment_id']}"


async def test_a_status_the_sdk_does_not_know_is_kept(
    dodo: FakeDodo, adapter: DodoPayments
) -> None:
    registered = dodo.add_payment(status="awaiting_bank_transfer")

    payment = await adapter.get_payment(registered["payment_id"])

    assert payment is not None
    assert payment.status is PaymentStatus.UNKNOWN
    assert payment.provider_status == "awaiting_bank_transfer"


async def test_an_unknown_payment_is_none(dodo: FakeDodo, adapter: DodoPayments) -> None:
    assert await adapter.get_payment("pay_nobody") is None
    assert [r.path for r in dodo.requests] == ["/payments/pay_nobody"]


@pytest.mark.parametrize("odd_id", ["", " ", "..", "../checkouts/cks_1", "pay_1?x=1", "pay 1"])
async def test_an_id_dodo_cannot_have_is_not_looked_up(
    dodo: FakeDodo, adapter: DodoPayments, odd_id: str
) -> None:
    assert await adapter.get_payment(odd_id) is None
    assert await adapter.find_payment_for_session(odd_id) is None
    assert dodo.requests == []


async def test_a_session_leads_to_its_payment_once_paid(
    dodo: FakeDodo, adapter: DodoPayments
) -> None:
    session = await adapter.create_checkout(CHECKOUT)
    assert await adapter.find_payment_for_session(session.session_id) is None

    paid = dodo.complete_session(session.session_id)
    payment = await adapter.find_payment_for_session(session.session_id)

    assert payment is not None
    assert payment.payment_id == paid["payment_id"]
    assert payment.status is PaymentStatus.SUCCEEDED
    # The fake prices the cart: 25 credits at the product's unit price.
    assert payment.total_amount_minor == 25 * objects.UNIT_PRICE_MINOR
    assert payment.metadata == CHECKOUT.metadata
    assert payment.checkout_session_id == session.session_id
    assert [r.path for r in dodo.requests[-2:]] == [
        f"/checkouts/{session.session_id}",
        f"/payments/{paid['payment_id']}",
    ]


async def test_a_failed_session_payment_is_reported_as_failed(
    dodo: FakeDodo, adapter: DodoPayments
) -> None:
    session = await adapter.create_checkout(CHECKOUT)
    dodo.complete_session(session.session_id, status="failed")

    payment = await adapter.find_payment_for_session(session.session_id)

    assert payment is not None
    assert payment.status is PaymentStatus.FAILED


async def test_an_unknown_session_is_none(adapter: DodoPayments) -> None:
    assert await adapter.find_payment_for_session("cks_nobody") is None
    assert await adapter.find_payment_for_session(" ") is None


async def test_a_wrong_api_key_is_a_permanent_error(dodo: FakeDodo) -> None:
    wrong = DodoPayments("not-the-key", mode="test_mode", base_url=dodo.base_url, max_retries=0)
    try:
        error = await provider_error(wrong.create_checkout(CHECKOUT))
        lookup_error = await provider_error(wrong.get_payment("pay_1"))
    finally:
        await wrong.aclose()

    assert (error.status_code, error.retryable) == (401, False)
    assert "UNAUTHORIZED" in error.message
    assert "not-the-key" not in error.message
    assert lookup_error.status_code == 401
    assert dodo.checkout_requests == []


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_is_retryable(
    dodo: FakeDodo, adapter: DodoPayments, status: int
) -> None:
    dodo.fail_next(status)

    error = await provider_error(adapter.create_checkout(CHECKOUT))

    assert (error.status_code, error.retryable) == (status, True)
    assert "FAKE_FAILURE" in error.message


async def test_a_server_error_on_a_lookup_is_not_taken_for_a_missing_payment(
    dodo: FakeDodo, adapter: DodoPayments
) -> None:
    registered = dodo.add_payment()
    dodo.fail_next(500, path_prefix="/payments")

    error = await provider_error(adapter.get_payment(registered["payment_id"]))

    assert error.status_code == 500
    assert await adapter.get_payment(registered["payment_id"]) is not None


async def test_a_rate_limit_is_retryable_with_the_providers_hint(
    dodo: FakeDodo, adapter: DodoPayments
) -> None:
    dodo.fail_next(429, headers={"retry-after": "3"})

    error = await provider_error(adapter.create_checkout(CHECKOUT))

    assert (error.status_code, error.retryable, error.retry_after) == (429, True, 3.0)


async def test_an_unknown_product_is_a_permanent_error(
    dodo: FakeDodo, adapter: DodoPayments
) -> None:
    unknown = CheckoutRequest(product_id="pdt_unknown", quantity=1, customer_email="a@example.com")

    error = await provider_error(adapter.create_checkout(unknown))

    assert (error.status_code, error.retryable) == (404, False)
    assert "PRODUCT_NOT_FOUND" in error.message
    assert dodo.requests[-1].path == "/checkouts"


async def test_a_rejected_checkout_body_is_a_permanent_error(adapter: DodoPayments) -> None:
    # The dataclass does not check metadata types at runtime; Dodo does (scalars only).
    bad = CheckoutRequest(
        product_id=objects.PRODUCT_ID,
        quantity=1,
        customer_email="a@example.com",
        metadata={"nested": {"x": "1"}},  # type: ignore[dict-item]
    )

    error = await provider_error(adapter.create_checkout(bad))

    assert (error.status_code, error.retryable) == (422, False)


async def test_a_slow_answer_times_out_as_retryable(dodo: FakeDodo) -> None:
    impatient = DodoPayments(
        dodo.api_key, mode="test_mode", base_url=dodo.base_url, timeout=0.2, max_retries=0
    )
    try:
        # Dodo holds its answer until the block ends: the adapter must give up first. The
        # guard only turns a missing timeout into a failure instead of a hang.
        with dodo.answers_held():
            error = await asyncio.wait_for(provider_error(impatient.create_checkout(CHECKOUT)), 30)
            assert [r.path for r in dodo.requests] == ["/checkouts"]
    finally:
        await impatient.aclose()

    assert error.retryable is True
    assert error.status_code is None
    assert "timed out" in error.message


async def test_an_unreachable_dodo_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    nowhere = DodoPayments(
        "key", mode="test_mode", base_url=f"http://127.0.0.1:{closed_port}", max_retries=0
    )
    try:
        error = await provider_error(nowhere.get_payment("pay_1"))
    finally:
        await nowhere.aclose()

    assert error.retryable is True
    assert "unreachable" in error.message


async def test_the_sdk_retries_when_allowed(dodo: FakeDodo) -> None:
    # retry-after-ms keeps the SDK's back-off to a millisecond.
    dodo.fail_next(500, headers={"retry-after-ms": "1"})
    patient = DodoPayments(dodo.api_key, mode="test_mode", base_url=dodo.base_url, max_retries=1)
    try:
        session = await patient.create_checkout(CHECKOUT)
    finally:
        await patient.aclose()

    assert session.session_id.startswith("cks_")
    assert len(dodo.requests) == 2
    assert dodo.requests[1].headers["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        ("<html>Bad gateway</html>", "text/html"),
        ("{not json", "application/json"),
        ({"checkout_url": "https://x.test/c"}, "application/json"),
        ({"session_id": "cks_1", "checkout_url": None}, "application/json"),
    ],
)
async def test_an_unreadable_success_is_an_invalid_payload(
    dodo: FakeDodo, adapter: DodoPayments, body: dict[str, object] | str, media_type: str
) -> None:
    dodo.fail_next(200, body=body, media_type=media_type)

    error = await provider_error(adapter.create_checkout(CHECKOUT))

    assert isinstance(error, InvalidPaymentPayload)
    assert error.retryable is False


async def test_a_payment_answer_without_money_fields_is_an_invalid_payload(
    dodo: FakeDodo, adapter: DodoPayments
) -> None:
    dodo.fail_next(200, body={"payment_id": "pay_1", "status": "succeeded"})

    error = await provider_error(adapter.get_payment("pay_1"))

    assert isinstance(error, InvalidPaymentPayload)


def test_without_a_base_url_the_mode_picks_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set in the environment, this would make the SDK refuse `environment` ("Ambiguous URL").
    monkeypatch.setenv("DODO_PAYMENTS_BASE_URL", "http://127.0.0.1:9")

    test_mode = DodoPayments("key", mode="test_mode")
    live_mode = DodoPayments("key", mode="live_mode")

    assert test_mode.base_url.startswith("https://test.dodopayments.com")
    assert live_mode.base_url.startswith("https://live.dodopayments.com")


def test_a_base_url_wins_over_the_mode() -> None:
    adapter = DodoPayments("key", mode="live_mode", base_url="http://127.0.0.1:8123")

    assert adapter.base_url.startswith("http://127.0.0.1:8123")


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_api_key_fails_at_construction(key: str) -> None:
    with pytest.raises(ValueError, match="API key"):
        DodoPayments(key, mode="test_mode")


def test_an_unknown_mode_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="mode"):
        DodoPayments("key", mode="sandbox")  # type: ignore[arg-type]


async def test_the_fakes_webhooks_verify_and_parse(dodo: FakeDodo, adapter: DodoPayments) -> None:
    session = await adapter.create_checkout(CHECKOUT)
    paid = dodo.complete_session(session.session_id)
    delivery = dodo.payment_event(paid["payment_id"])

    envelope = WebhookVerifier([dodo.webhook_secret]).verify(delivery.body, delivery.headers)
    event = parse_event(envelope.payload)

    assert envelope.webhook_id == delivery.webhook_id
    assert isinstance(event, PaymentEvent)
    assert event.event_type == "payment.succeeded"
    assert event.payment.metadata == CHECKOUT.metadata
    assert event.payment.checkout_session_id == session.session_id
    assert event.payment.total_amount_minor == 25 * objects.UNIT_PRICE_MINOR


async def test_the_fake_retries_a_delivery_with_a_fresh_signature(dodo: FakeDodo) -> None:
    seen: list[int] = []
    verifier = WebhookVerifier([dodo.webhook_secret])

    async def receiver(request: Request) -> Response:
        try:
            envelope = verifier.verify(await request.body(), request.headers)
        except InvalidWebhookSignature:
            seen.append(401)
            return JSONResponse({"code": "INVALID_SIGNATURE"}, status_code=401)
        seen.append(200)
        return JSONResponse({"webhook_id": envelope.webhook_id})

    app = Starlette(routes=[Route("/webhook", receiver, methods=["POST"])])
    registered = dodo.add_payment(status="failed")
    # Signed an hour ago: the first attempt is refused, the retry is signed afresh.
    stale = dodo.resign(dodo.payment_event(registered["payment_id"]), int(time.time()) - 3600)
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        response = await dodo.deliver(client, "/webhook", stale, max_attempts=3)

    assert seen == [401, 200]
    assert response.json() == {"webhook_id": stale.webhook_id}
    assert stale.payload["type"] == "payment.failed"


def test_the_fake_checks_the_bearer_key_and_works_as_a_plain_context_manager() -> None:
    with FakeDodo() as fake, httpx.Client(base_url=fake.base_url) as client:
        payment_id = fake.add_payment()["payment_id"]
        anonymous = client.get(f"/payments/{payment_id}")
        wrong = client.get(f"/payments/{payment_id}", headers={"authorization": "Bearer nope"})
        right = client.get(
            f"/payments/{payment_id}", headers={"authorization": f"Bearer {fake.api_key}"}
        )

    assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert anonymous.json()["code"] == "UNAUTHORIZED"
    assert right.json()["payment_id"] == payment_id
