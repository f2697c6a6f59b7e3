"""A loopback fake Dodo Payments: the REST endpoints the adapter uses, plus signed webhooks.

uvicorn on 127.0.0.1 in a background thread, so the real SDK (its own httpx client, retries,
headers) talks real HTTP to it through `base_url`. It speaks external-apis.md §2:
`POST /checkouts`, `GET /checkouts/{id}`, `GET /payments/{id}`, `GET /products/{id}` behind
`Authorization: Bearer`, and a hosted page at `/checkout/{id}`. Error bodies are
`{"code", "message"}` (Dodo's exact key names are unverified; the adapter only reads them for
messages).

    async with FakeDodo() as dodo:
        adapter = DodoPayments(dodo.api_key, mode="test_mode", base_url=dodo.base_url,
                               max_retries=0)
        session = await adapter.create_checkout(...)
        payment = dodo.complete_session(session.session_id)        # customer paid
        delivery = dodo.payment_event(payment["payment_id"])       # signed payment.succeeded
        response = await dodo.deliver(client, "/api/v1/payments/webhook", delivery)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from app.integrations.payments.webhooks import sign
from tests.integrations.payments import dodo_objects as objects

API_KEY = "dodo_test_key_0123456789abcdef"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"fake-dodo-webhook-key-32-bytes!!").decode()
STARTUP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    # The decoded JSON body, or None for GETs and unreadable bodies.
    json: Any


@dataclass(slots=True)
class Failure:
    status: int
    remaining: int
    path_prefix: str | None
    # A dict is sent as JSON; a str as is, with `media_type`.
    body: dict[str, Any] | str
    media_type: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Gate:
    """API requests under `path_prefix` wait at the door until `release` is set; `entered` is
    set when the first one arrives. Lets a test hold one caller mid-call, deterministically."""

    path_prefix: str
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass(slots=True)
class FakeSession:
    session_id: str
    request: dict[str, Any]
    created_at: str
    payment_id: str | None = None
    payment_status: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One webhook message: the exact bytes to POST and the headers signed over them."""

    webhook_id: str
    body: bytes
    headers: dict[str, str]

    @property
    def payload(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class _State:
    requests: list[RecordedRequest] = field(default_factory=list)
    sessions: dict[str, FakeSession] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)


class FakeDodo:
    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        webhook_secret: str = WEBHOOK_SECRET,
        products: dict[str, tuple[int, str]] | None = None,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        # product id -> (unit price in minor units, currency)
        self.products = products or {objects.PRODUCT_ID: (objects.UNIT_PRICE_MINOR, "INR")}
        # Seconds every API answer waits first (the hosted page is not slowed).
        self.delay_s = 0.0
        # Closed by hold(): every API answer then waits until release() (or a safety timeout),
        # so a test can act while our code is waiting on Dodo, with no timing in the test.
        self._gate = threading.Event()
        self._gate.set()
        self._state = _State()
        # The server thread and the test both touch the state; no awaits happen under it.
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Bound before the server starts, so the URL is known and no one can take the port.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{int(self._socket.getsockname()[1])}"
        app = Starlette(
            routes=[
                Route("/checkouts", self._create_checkout, methods=["POST"]),
                Route("/checkouts/{session_id}", self._get_checkout, methods=["GET"]),
                Route("/payments/{payment_id}", self._get_payment, methods=["GET"]),
                Route("/products/{product_id}", self._get_product, methods=["GET"]),
                Route("/checkout/{session_id}", self._hosted_page, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(
            app,
            loop="asyncio",
            http="h11",
            lifespan="off",
            access_log=False,
            log_config=None,  # leave the process's logging configuration alone
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    # -- lifecycle: sync or async context manager ---------------------------------------

    def start(self) -> None:
        # A thread, not a task: the server's loop stays independent of the test's, and a test
        # that blocks (or a slow answer) cannot starve either side.
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise RuntimeError("the fake Dodo did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._stopping.set()
        self._gate.set()
        with self._lock:
            for gate in self._state.gates:
                gate.release.set()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STARTUP_TIMEOUT_S)
        self._socket.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def reset(self) -> None:
        """Forget requests, sessions, payments and injected behaviour, so one running fake
        can serve a whole module of tests."""
        with self._lock:
            gates, self._state = self._state.gates, _State()
        for gate in gates:
            gate.release.set()
        self.delay_s = 0.0
        self._gate.set()

    @contextlib.contextmanager
    def answers_held(self) -> Iterator[None]:
        """Inside the block every API answer waits until the block ends (the request is still
        recorded when it arrives). Whatever waits for Dodo cannot finish inside the block, so
        a test proves "X did not wait for Dodo" by ordering instead of with a stopwatch."""
        self.hold()
        try:
            yield
        finally:
            self.release()

    # -- what the tests look at -----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request received (hosted page excluded), in order."""
        with self._lock:
            return list(self._state.requests)

    @property
    def checkout_requests(self) -> list[dict[str, Any]]:
        """The JSON body of every `POST /checkouts` that passed authentication."""
        return [
            r.json
            for r in self.requests
            if r.method == "POST"
            and r.path == "/checkouts"
            and r.headers.get("authorization") == f"Bearer {self.api_key}"
        ]

    def session(self, session_id: str) -> FakeSession:
        with self._lock:
            return replace(self._state.sessions[session_id])

    def payment(self, payment_id: str) -> dict[str, Any]:
        with self._lock:
            # A deep copy, so a test cannot change the fake's state behind its back.
            copied: dict[str, Any] = json.loads(json.dumps(self._state.payments[payment_id]))
        return copied

    # -- how the fake behaves -------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        path_prefix: str | None = None,
        body: dict[str, Any] | str | None = None,
        media_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` authenticated API requests (under `path_prefix`) with
        `status`; e.g. `fail_next(500)`, `fail_next(429, headers={"retry-after": "3"})`, or a
        broken success: `fail_next(200, body="<html>", media_type="text/html")`."""
        failure_body = body or {"code": "FAKE_FAILURE", "message": f"injected {status}"}
        with self._lock:
            self._state.failures.append(
                Failure(status, times, path_prefix, failure_body, media_type, dict(headers or {}))
            )

    def gate(self, path_prefix: str) -> Gate:
        """Hold API requests under `path_prefix` until `gate.release.set()`."""
        gate = Gate(path_prefix)
        with self._lock:
            self._state.gates.append(gate)
        return gate

    def requests_to(self, path: str) -> int:
        """How many API requests reached `path` (authenticated or not)."""
        return sum(1 for r in self.requests if r.path == path)

    # -- scenario state -------------------------------------------------------------------

    def add_payment(self, **fields: Any) -> dict[str, Any]:
        """Register a payment `GET /payments/{id}` will return; keyword arguments are those
        of `dodo_objects.payment_object` (status, total_amount, currency, metadata, ...)."""
        payment = objects.payment_object(**fields)
        with self._lock:
            self._state.payments[payment["payment_id"]] = payment
            session = self._state.sessions.get(payment.get("checkout_session_id") or "")
            if session is not None:
                session.payment_id = payment["payment_id"]
                session.payment_status = payment["status"]
        return payment

    def complete_session(self, session_id: str, *, status: str = "succeeded") -> dict[str, Any]:
        """The customer finished the hosted checkout: a payment for the session's cart, at the
        product's price, carrying the session's metadata and customer."""
        request = self.session(session_id).request
        item = request["product_cart"][0]
        unit_price, currency = self.products[item["product_id"]]
        customer = request.get("customer") or {}
        return self.add_payment(
            status=status,
            total_amount=unit_price * item["quantity"],
            currency=currency,
            metadata=request.get("metadata") or {},
            checkout_session_id=session_id,
            customer_email=customer.get("email", objects.CUSTOMER_EMAIL),
            customer_name=customer.get("name") or objects.CUSTOMER_NAME,
            product_id=item["product_id"],
            quantity=item["quantity"],
        )

    def set_payment_status(self, payment_id: str, status: str) -> dict[str, Any]:
        with self._lock:
            payment = self._state.payments[payment_id]
            payment["status"] = status
            payment["updated_at"] = objects.iso_now()
            session = self._state.sessions.get(payment.get("checkout_session_id") or "")
            if session is not None:
                session.payment_status = status
        return self.payment(payment_id)

    # -- webhooks -------------------------------------------------------------------------

    def webhook(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        webhook_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> WebhookDelivery:
        """A signed delivery of `{business_id, type, timestamp, data}` (compact JSON)."""
        body = json.dumps(objects.event_envelope(event_type, data), separators=(",", ":"))
        message_id = webhook_id or objects.new_id("msg")
        when = int(time.time()) if timestamp is None else timestamp
        headers = sign(body.encode(), message_id, when, secret or self.webhook_secret)
        return WebhookDelivery(message_id, body.encode(), headers)

    def payment_event(self, payment_id: str, event_type: str | None = None) -> WebhookDelivery:
        """`payment.<status>` (or `event_type`) carrying the payment's current state."""
        payment = self.payment(payment_id)
        kind = event_type or objects.PAYMENT_EVENT_FOR_STATUS[payment["status"]]
        return self.webhook(kind, payment)

    def refund_event(
        self, payment_id: str, *, amount: int | None = None, status: str = "succeeded"
    ) -> WebhookDelivery:
        refund = objects.refund_object(self.payment(payment_id), amount=amount, status=status)
        return self.webhook(f"refund.{status}", refund)

    def resign(self, delivery: WebhookDelivery, timestamp: int | None = None) -> WebhookDelivery:
        """The same message (id and body) signed for a new attempt, as a retry is."""
        when = int(time.time()) if timestamp is None else timestamp
        headers = sign(delivery.body, delivery.webhook_id, when, self.webhook_secret)
        return replace(delivery, headers=headers)

    async def deliver(
        self,
        client: httpx.AsyncClient,
        url: str,
        delivery: WebhookDelivery,
        *,
        max_attempts: int = 1,
    ) -> httpx.Response:
        """POST the delivery like Dodo: retried on non-2xx with a fresh signature each time,
        no redirects followed. Returns the last answer."""
        response: httpx.Response | None = None
        for attempt in range(max_attempts):
            signed = delivery if attempt == 0 else self.resign(delivery)
            response = await client.post(
                url,
                content=signed.body,
                headers={**signed.headers, "content-type": "application/json"},
                follow_redirects=False,
            )
            if response.is_success:
                break
        assert response is not None, "max_attempts must be at least 1"
        return response

    # -- the HTTP side ----------------------------------------------------------------------

    async def _create_checkout(self, request: Request) -> Response:
        body = await request.body()
        refused = await self._admit(request, body)
        if refused is not None:
            return refused
        checkout = _json(body)
        problem = self._checkout_problem(checkout)
        if problem is not None:
            return problem
        assert isinstance(checkout, dict)
        session_id = objects.new_id("cks")
        with self._lock:
            self._state.sessions[session_id] = FakeSession(session_id, checkout, objects.iso_now())
        return JSONResponse(
            {"session_id": session_id, "checkout_url": f"{self.base_url}/checkout/{session_id}"}
        )

    def _checkout_problem(self, checkout: object) -> Response | None:
        if not isinstance(checkout, dict):
            return _error(422, "INVALID_REQUEST_BODY", "body is not a JSON object")
        cart = checkout.get("product_cart")
        if not isinstance(cart, list) or not cart:
            return _error(422, "INVALID_REQUEST_BODY", "product_cart is required")
        for item in cart:
            quantity = item.get("quantity") if isinstance(item, dict) else None
            if type(quantity) is not int or quantity < 1:
                return _error(422, "INVALID_REQUEST_BODY", "quantity must be a positive integer")
            if item.get("product_id") not in self.products:
                return _error(404, "PRODUCT_NOT_FOUND", "no such product")
        customer = checkout.get("customer")
        if customer is not None and not (
            isinstance(customer, dict) and ("email" in customer or "customer_id" in customer)
        ):
            return _error(422, "INVALID_REQUEST_BODY", "customer needs email or customer_id")
        metadata = checkout.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and all(isinstance(v, str | int | float | bool) for v in metadata.values())
        ):
            return _error(422, "INVALID_REQUEST_BODY", "metadata values must be scalars")
        return None

    async def _get_checkout(self, request: Request) -> Response:
        refused = await self._admit(request, b"")
        if refused is not None:
            return refused
        with self._lock:
            session = self._state.sessions.get(request.path_params["session_id"])
            if session is None:
                return _error(404, "CHECKOUT_SESSION_NOT_FOUND", "no such checkout session")
            customer = session.request.get("customer") or {}
            return JSONResponse(
                {
                    "id": session.session_id,
                    "created_at": session.created_at,
                    "customer_email": customer.get("email"),
                    "customer_name": customer.get("name"),
                    "payment_id": session.payment_id,
                    "payment_status": session.payment_status,
                }
            )

    async def _get_payment(self, request: Request) -> Response:
        refused = await self._admit(request, b"")
        if refused is not None:
            return refused
        with self._lock:
            payment = self._state.payments.get(request.path_params["payment_id"])
            if payment is None:
                return _error(404, "PAYMENT_NOT_FOUND", "no such payment")
            return JSONResponse(payment)

    async def _get_product(self, request: Request) -> Response:
        refused = await self._admit(request, b"")
        if refused is not None:
            return refused
        product_id = request.path_params["product_id"]
        if product_id not in self.products:
            return _error(404, "PRODUCT_NOT_FOUND", "no such product")
        price, currency = self.products[product_id]
        return JSONResponse(objects.product_object(product_id, price, currency))

    async def _hosted_page(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        with self._lock:
            known = session_id in self._state.sessions
        if not known:
            return HTMLResponse("<h1>Checkout not found</h1>", status_code=404)
        return HTMLResponse(f"<h1>Fake Dodo checkout</h1><p>Session {session_id}</p>")

    async def _admit(self, request: Request, body: bytes) -> Response | None:
        """Record the request, then apply the delay, authentication and injected failures;
        None lets the handler answer."""
        with self._lock:
            self._state.requests.append(
                RecordedRequest(
                    request.method, request.url.path, dict(request.headers), _json(body)
                )
            )
        await self._pause()
        await self._wait_at_gates(request.url.path)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "UNAUTHORIZED", "invalid API key")
        return self._injected_failure(request.url.path)

    def hold(self) -> None:
        """Make every API answer wait until `release()`."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    async def _pause(self) -> None:
        if not self._gate.is_set():
            await asyncio.to_thread(self._wait_for_release)
        # Waiting on the stop event (in a worker thread: it is a threading.Event) rather than
        # sleeping, so stopping the server does not wait out a long delay.
        if self.delay_s > 0:
            await asyncio.to_thread(self._stopping.wait, self.delay_s)

    async def _wait_at_gates(self, path: str) -> None:
        with self._lock:
            gates = [g for g in self._state.gates if path.startswith(g.path_prefix)]
        for gate in gates:
            gate.entered.set()
            await asyncio.to_thread(gate.release.wait, STARTUP_TIMEOUT_S * 6)

    def _wait_for_release(self) -> None:
        while not self._gate.wait(0.05):
            if self._stopping.is_set():
                return

    def _injected_failure(self, path: str) -> Response | None:
        with self._lock:
            for failure in self._state.failures:
                if failure.remaining > 0 and (
                    failure.path_prefix is None or path.startswith(failure.path_prefix)
                ):
                    failure.remaining -= 1
                    if isinstance(failure.body, str):
                        return Response(
                            failure.body,
                            status_code=failure.status,
                            media_type=failure.media_type,
                            headers=failure.headers,
                        )
                    return JSONResponse(
                        failure.body, status_code=failure.status, headers=failure.headers
                    )
        return None


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)
