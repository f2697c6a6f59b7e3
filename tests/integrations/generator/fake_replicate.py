"""A loopback fake Replicate (external-apis.md §1.11): the REST endpoints the adapter uses, its
file CDN, and signed webhook deliveries.

uvicorn on 127.0.0.1 in a background thread, like `fake_dodo.py`, so our adapter's own httpx
client talks real HTTP to it through `REPLICATE_BASE_URL`. It speaks:

- `Authorization: Bearer` on every API call, 401 with the problem-details body otherwise;
- `POST /v1/models/{owner}/{name}/predictions` → 201, the input checked against seedream-4's
  schema (422 otherwise), `Cancel-After` and `Prefer: wait[=N]` honoured;
- `GET /v1/predictions/{id}`, `POST /v1/predictions/{id}/cancel`,
  `GET /v1/webhooks/default/secret`;
- outputs at `https://replicate.delivery/fake/{id}/out-0.jpg`, served by this same server under
  `/fake/...` (tests route the CDN name here with `output_fetcher()`), as data URIs, or as
  plain loopback http URLs (which our fetcher must refuse);
- webhooks per `webhook_events_filter`, signed with the `whsec_` key, fresh timestamp per
  attempt, stable `webhook-id`, retried on non-2xx when `auto_deliver` is on.

Status moves one step per `GET` of the prediction (`starting → processing → ...`), so tests
need no clocks: a test that wants the webhook to win the race calls `finish(id)` itself.

    async with FakeReplicate() as replicate:
        replicate.script_next(Script(statuses=["processing", "failed"], error="NSFW flagged"))
        ...
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import re
import socket
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self

import httpx
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.integrations.fetcher import SafeFetcher
from app.integrations.generator.replicate import OUTPUT_HOSTS, TERMINAL
from app.integrations.webhooks import sign

API_TOKEN = "r8_fake_replicate_token_0123456789"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"fake-replicate-webhook-key-32b!!").decode()
CDN_HOST = "replicate.delivery"
CDN_IP = "151.101.1.1"  # a public address; the fetcher's requests to it are routed here
STARTUP_TIMEOUT_S = 10.0

OutputKind = Literal["url", "data", "http", "internal", "none"]
SIZES = {"1K", "2K", "4K", "custom"}
ASPECTS = {"match_input_image", "1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9"}


@dataclass(slots=True)
class Script:
    """What a prediction does after `starting`, one step per GET. The last status stays:
    `["processing"]` is a prediction stuck processing; anything not in Replicate's five
    statuses (e.g. "exploded") is an unknown status."""

    statuses: list[str] = field(default_factory=lambda: ["processing", "succeeded"])
    error: str | None = None
    output: OutputKind = "url"
    # The output file's bytes; None = a small JPEG made for the prediction.
    output_bytes: bytes | None = None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    webhook_id: str
    body: bytes
    headers: dict[str, str]
    url: str

    @property
    def payload(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass(slots=True)
class _Prediction:
    body: dict[str, Any]
    script: Script
    step: int = 0
    cancel_at: float | None = None
    webhook: str | None = None
    events: tuple[str, ...] = ("completed",)


@dataclass(slots=True)
class _Failure:
    status: int
    remaining: int
    path_prefix: str | None
    body: dict[str, Any]
    headers: dict[str, str]


def new_id(length: int = 26) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=length))


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def small_jpeg(seed: int = 0, size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    colour = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def parse_duration(value: str) -> float | None:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*", value)
    if match is None:
        return None
    amount, unit = float(match[1]), match[2]
    return amount * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


class _Cdn(httpx.AsyncBaseTransport):
    """Sends the fetcher's requests (to the checked public address) to the fake instead."""

    def __init__(self, fake: FakeReplicate) -> None:
        self._fake = fake
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._fake._record_cdn(request)
        target = httpx.URL(self._fake.base_url).copy_with(
            path=request.url.path, query=request.url.query or None
        )
        forwarded = httpx.Request(
            request.method, target, headers=request.headers, extensions=request.extensions
        )
        forwarded.extensions.pop("sni_hostname", None)
        return await self._inner.handle_async_request(forwarded)

    async def aclose(self) -> None:
        await self._inner.aclose()


class FakeReplicate:
    def __init__(self, *, api_token: str = API_TOKEN, webhook_secret: str = WEBHOOK_SECRET):
        self.api_token = api_token
        self.webhook_secret = webhook_secret
        self.model = "bytedance/seedream-4"
        # Deliver webhooks from a thread as Replicate does (off: tests deliver them).
        self.auto_deliver = False
        # Output files 404 this long after the prediction finished (Replicate: ~1 h).
        self.output_ttl_s: float | None = None
        # The output of unscripted predictions ("data" for a server process that cannot
        # reach the faked CDN).
        self.default_output: OutputKind = "url"
        self._lock = threading.Lock()
        # Cleared by hold_polls(): GETs of predictions wait at the door until release_polls(),
        # so a test can let a webhook win the race against our poller, deterministically.
        self._polls_open = threading.Event()
        self._polls_open.set()
        self._reset_state()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{int(self._socket.getsockname()[1])}"
        app = Starlette(
            routes=[
                Route("/v1/models/{owner}/{name}/predictions", self._create, methods=["POST"]),
                Route("/v1/predictions/{pid}", self._get, methods=["GET"]),
                Route("/v1/predictions/{pid}/cancel", self._cancel, methods=["POST"]),
                Route("/v1/webhooks/default/secret", self._secret, methods=["GET"]),
                Route("/fake/{pid}/{name}", self._file, methods=["GET"]),
                # CDN misbehaviour for SSRF-01: a redirect inward, and an answer that stalls.
                Route("/redirect-inward", self._redirect_inward, methods=["GET"]),
                Route("/stalled", self._stalled, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(
            app,
            loop="asyncio",
            http="h11",
            lifespan="off",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _reset_state(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.cdn_requests: list[httpx.Request] = []
        self.predictions: dict[str, _Prediction] = {}
        self.deliveries: list[WebhookDelivery] = []
        # (webhook_id, attempt, status code or exception name)
        self.delivery_log: list[tuple[str, int, str]] = []
        self._scripts: list[Script] = []
        self._rules: list[tuple[str, Script]] = []
        self._failures: list[_Failure] = []
        self._files: dict[str, tuple[bytes, float | None]] = {}
        self._throttle: tuple[int, float] | None = None
        self._creates_at: list[float] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise RuntimeError("the fake Replicate did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._stopping.set()
        self._polls_open.set()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STARTUP_TIMEOUT_S)
        self._socket.close()

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
        with self._lock:
            self._reset_state()
        self.auto_deliver = False
        self.output_ttl_s = None
        self.default_output = "url"
        self._polls_open.set()

    # -- how the fake behaves ----------------------------------------------------------------

    def script_next(self, *scripts: Script) -> None:
        """The next creates follow these scripts, in order (then the default)."""
        with self._lock:
            self._scripts.extend(scripts)

    def script_prompt(self, fragment: str, script: Script) -> None:
        """Every create whose prompt contains `fragment` follows `script` (e.g. a flagged
        style among many generations)."""
        with self._lock:
            self._rules.append((fragment, script))

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        path_prefix: str | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` authenticated API requests (under `path_prefix`) with
        `status`, e.g. `throttled()` below, or `fail_next(503)`."""
        with self._lock:
            self._failures.append(
                _Failure(
                    status,
                    times,
                    path_prefix,
                    body or {"title": "Injected", "detail": f"injected {status}", "status": status},
                    dict(headers or {}),
                )
            )

    def throttled(self, *, times: int = 1, retry_after: int = 5) -> None:
        """429 on the next creates, as Replicate throttles a low-credit account."""
        self.fail_next(
            429,
            times=times,
            path_prefix="/v1/models/",
            body={
                "detail": f"Request was throttled. Your rate limit resets in ~{retry_after}s.",
                "status": 429,
                "retry_after": retry_after,
            },
            headers={"Retry-After": str(retry_after)},
        )

    def throttle_creates(self, limit: int, window_s: float) -> None:
        """At most `limit` creates per rolling `window_s`; more get 429 with retry_after."""
        with self._lock:
            self._throttle = (limit, window_s)

    def hold_polls(self) -> None:
        self._polls_open.clear()

    def release_polls(self) -> None:
        self._polls_open.set()

    def expire_outputs(self) -> None:
        """Replicate deleted the files (data retention): every output URL now 404s."""
        with self._lock:
            self._files.clear()

    def output_fetcher(
        self, *, max_bytes: int = 32 * 1024 * 1024, timeout: float = 10
    ) -> SafeFetcher:
        """Our SSRF-safe fetcher with the production rules (allow-list, public addresses,
        default port, https), its DNS answering the CDN name with a public address and its
        transport delivering to this fake: the CDN faked at the HTTP boundary."""

        async def resolve(host: str, port: int) -> list[str]:
            if host == f"internal.{CDN_HOST}":
                return ["10.0.0.7"]  # a CDN-looking name pointing into our network
            if host == CDN_HOST or host.endswith("." + CDN_HOST):
                return [CDN_IP]
            raise OSError(f"NXDOMAIN {host}")

        return SafeFetcher(
            allowed_hosts=OUTPUT_HOSTS,
            max_bytes=max_bytes,
            timeout=timeout,
            resolver=resolve,
            transport=_Cdn(self),
        )

    # -- what tests look at and do -------------------------------------------------------------

    @property
    def creates(self) -> list[RecordedRequest]:
        """Every authenticated create that was answered 201."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/v1/models/") and r.json]

    def prediction(self, prediction_id: str) -> dict[str, Any]:
        with self._lock:
            copied: dict[str, Any] = json.loads(json.dumps(self.predictions[prediction_id].body))
        return copied

    def ids(self) -> list[str]:
        with self._lock:
            return list(self.predictions)

    def finish(self, prediction_id: str) -> dict[str, Any]:
        """Run the prediction's script to its end now (time passed at Replicate)."""
        with self._lock:
            prediction = self.predictions[prediction_id]
            while self._advance(prediction):
                pass
        return self.prediction(prediction_id)

    def webhook_for(
        self, snapshot: dict[str, Any], *, webhook_id: str | None = None, url: str = ""
    ) -> WebhookDelivery:
        """A signed delivery of any prediction state (for out-of-order tests)."""
        body = json.dumps(snapshot, separators=(",", ":")).encode()
        message_id = webhook_id or "msg_" + new_id(28)
        return WebhookDelivery(message_id, body, self._sign(body, message_id), url)

    def resign(self, delivery: WebhookDelivery) -> WebhookDelivery:
        return WebhookDelivery(
            delivery.webhook_id,
            delivery.body,
            self._sign(delivery.body, delivery.webhook_id),
            delivery.url,
        )

    async def deliver(
        self, client: httpx.AsyncClient, path: str, delivery: WebhookDelivery
    ) -> httpx.Response:
        """POST a delivery (freshly signed, as a retry is) to our app; no redirects."""
        signed = self.resign(delivery)
        return await client.post(
            path,
            content=signed.body,
            headers={**signed.headers, "content-type": "application/json"},
            follow_redirects=False,
        )

    # -- the prediction machine (called with the lock held) -----------------------------------

    def _script_for(self, prompt: str) -> Script:
        for fragment, script in self._rules:
            if fragment in prompt:
                return script
        if self._scripts:
            return self._scripts.pop(0)
        return Script(output=self.default_output)

    def _advance(self, prediction: _Prediction) -> bool:
        """One step forward; False when there is nowhere to go."""
        body = prediction.body
        if body["status"] in TERMINAL:
            return False
        if prediction.cancel_at is not None and time.monotonic() >= prediction.cancel_at:
            self._end(prediction, "aborted" if body["status"] == "starting" else "canceled")
            return False
        statuses = prediction.script.statuses
        if prediction.step >= len(statuses):
            return False  # stuck where it is (or in an unknown status)
        status = statuses[prediction.step]
        prediction.step += 1
        if status == "processing":
            body["status"] = "processing"
            body["started_at"] = body["started_at"] or iso_now()
            body["logs"] = "Generating...\n"
        elif status in TERMINAL:
            self._end(prediction, status)
        else:
            body["status"] = status
        return True

    def _end(self, prediction: _Prediction, status: str) -> None:
        body = prediction.body
        body["status"] = status
        body["completed_at"] = iso_now()
        if status == "succeeded":
            body["output"] = (
                [self._output(prediction)] if prediction.script.output != "none" else []
            )
            body["metrics"] = {"predict_time": 7.41, "total_time": 8.02}
        elif status == "failed":
            body["error"] = prediction.script.error or "Prediction failed."
        if prediction.webhook and "completed" in prediction.events:
            snapshot = json.loads(json.dumps(body))
            delivery = self.webhook_for(snapshot, url=prediction.webhook)
            self.deliveries.append(delivery)
            if self.auto_deliver:
                threading.Thread(target=self._send, args=(delivery,), daemon=True).start()

    def _output(self, prediction: _Prediction) -> str:
        pid = prediction.body["id"]
        data = prediction.script.output_bytes or small_jpeg(len(self.predictions))
        kind = prediction.script.output
        if kind == "data":
            return "data:image/jpeg;base64," + base64.b64encode(data).decode()
        expires = None if self.output_ttl_s is None else time.monotonic() + self.output_ttl_s
        self._files[f"/fake/{pid}/out-0.jpg"] = (data, expires)
        if kind == "http":
            return f"{self.base_url}/fake/{pid}/out-0.jpg"
        if kind == "internal":
            return f"https://internal.{CDN_HOST}/fake/{pid}/out-0.jpg"
        return f"https://{CDN_HOST}/fake/{pid}/out-0.jpg"

    def _sign(self, body: bytes, message_id: str) -> dict[str, str]:
        return sign(body, message_id, int(time.time()), self.webhook_secret)

    def _send(self, delivery: WebhookDelivery, attempts: int = 6) -> None:
        """Replicate's delivery: retried on non-2xx or no answer, each attempt signed anew."""
        for attempt in range(attempts):
            if self._stopping.is_set():
                return
            signed = self.resign(delivery)
            try:
                response = httpx.post(
                    delivery.url,
                    content=signed.body,
                    headers={**signed.headers, "content-type": "application/json"},
                    timeout=15,
                    follow_redirects=False,
                )
                outcome = str(response.status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
                response = None
            with self._lock:
                self.delivery_log.append((delivery.webhook_id, attempt, outcome))
            if response is not None and response.is_success:
                return
            time.sleep(0.2 * 2**attempt)

    # -- the HTTP side ---------------------------------------------------------------------------

    def _record_cdn(self, request: httpx.Request) -> None:
        with self._lock:
            self.cdn_requests.append(request)

    async def _admit(self, request: Request) -> tuple[Any, Response | None]:
        raw = await request.body()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.url.path,
                    {k.lower(): v for k, v in request.headers.items()},
                    parsed,
                )
            )
        if request.headers.get("authorization") != f"Bearer {self.api_token}":
            return parsed, JSONResponse(
                {
                    "title": "Unauthenticated",
                    "detail": "You did not pass a valid authentication token",
                    "status": 401,
                },
                status_code=401,
            )
        with self._lock:
            for failure in self._failures:
                if failure.remaining > 0 and (
                    failure.path_prefix is None or request.url.path.startswith(failure.path_prefix)
                ):
                    failure.remaining -= 1
                    return parsed, JSONResponse(
                        failure.body, status_code=failure.status, headers=failure.headers
                    )
        return parsed, None

    async def _create(self, request: Request) -> Response:
        body, refused = await self._admit(request)
        if refused is not None:
            self._unrecord_last()
            return refused
        model = f"{request.path_params['owner']}/{request.path_params['name']}"
        if model != self.model:
            self._unrecord_last()
            return _problem(404, "Not found", "The requested model does not exist")
        problem = _input_problem(body)
        if problem is not None:
            self._unrecord_last()
            return _problem(422, "Input validation failed", problem)
        throttled = self._throttled()
        if throttled is not None:
            self._unrecord_last()
            return throttled
        assert isinstance(body, dict)
        pid = new_id()
        now = iso_now()
        prediction = {
            "id": pid,
            "model": model,
            "version": "hidden",
            "input": body["input"],
            "status": "starting",
            "output": None,
            "error": None,
            "logs": "",
            "metrics": {},
            "data_removed": False,
            "created_at": now,
            "started_at": None,
            "completed_at": None,
            "urls": {
                "get": f"{self.base_url}/v1/predictions/{pid}",
                "cancel": f"{self.base_url}/v1/predictions/{pid}/cancel",
                "web": f"https://replicate.com/p/{pid}",
            },
        }
        cancel_after = parse_duration(request.headers.get("cancel-after", ""))
        events = body.get("webhook_events_filter") or ["start", "output", "logs", "completed"]
        with self._lock:
            record = _Prediction(
                prediction,
                self._script_for(str(body["input"].get("prompt", ""))),
                cancel_at=None if cancel_after is None else time.monotonic() + cancel_after,
                webhook=body.get("webhook"),
                events=tuple(events),
            )
            self.predictions[pid] = record
        headers: dict[str, str] = {}
        prefer = request.headers.get("prefer", "")
        if prefer.startswith("wait"):
            # Hold until terminal (here: run the script), as sync mode does.
            with self._lock:
                while self._advance(record):
                    pass
            headers["Preference-Applied"] = "wait"
        return JSONResponse(self.prediction(pid), status_code=201, headers=headers)

    def _unrecord_last(self) -> None:
        # `creates` lists only accepted creates; refused ones stay in `requests` as json=None.
        with self._lock:
            last = self.requests[-1]
            self.requests[-1] = RecordedRequest(last.method, last.path, last.headers, None)

    def _throttled(self) -> Response | None:
        with self._lock:
            if self._throttle is None:
                return None
            limit, window = self._throttle
            now = time.monotonic()
            self._creates_at = [t for t in self._creates_at if now - t < window]
            if len(self._creates_at) < limit:
                self._creates_at.append(now)
                return None
            wait = max(1, int(window - (now - self._creates_at[0])) + 1)
        return JSONResponse(
            {
                "detail": f"Request was throttled. Resets in ~{wait}s.",
                "status": 429,
                "retry_after": wait,
            },
            status_code=429,
            headers={"Retry-After": str(wait)},
        )

    async def _get(self, request: Request) -> Response:
        _, refused = await self._admit(request)
        if refused is not None:
            return refused
        if not self._polls_open.is_set():
            # Set by the test's thread (or stop()): wait for it off the server's loop.
            await asyncio.to_thread(self._polls_open.wait, STARTUP_TIMEOUT_S * 3)
        pid = request.path_params["pid"]
        with self._lock:
            prediction = self.predictions.get(pid)
            if prediction is not None:
                self._advance(prediction)
        if prediction is None:
            return _problem(404, "Not found", "The requested prediction does not exist")
        return JSONResponse(self.prediction(pid))

    async def _cancel(self, request: Request) -> Response:
        _, refused = await self._admit(request)
        if refused is not None:
            return refused
        pid = request.path_params["pid"]
        with self._lock:
            prediction = self.predictions.get(pid)
            if prediction is not None and prediction.body["status"] not in TERMINAL:
                self._end(prediction, "canceled")
        if prediction is None:
            return _problem(404, "Not found", "The requested prediction does not exist")
        return JSONResponse(self.prediction(pid))

    async def _secret(self, request: Request) -> Response:
        _, refused = await self._admit(request)
        if refused is not None:
            return refused
        return JSONResponse({"key": self.webhook_secret})

    async def _file(self, request: Request) -> Response:
        with self._lock:
            found = self._files.get(request.url.path)
        if found is None or (found[1] is not None and time.monotonic() > found[1]):
            return Response(status_code=404)
        return Response(found[0], media_type="image/jpeg")

    async def _redirect_inward(self, request: Request) -> Response:
        return Response(
            status_code=302, headers={"Location": f"https://internal.{CDN_HOST}/latest/meta-data"}
        )

    async def _stalled(self, request: Request) -> Response:
        for _ in range(100):  # 10 s at most, or until the fake stops
            if self._stopping.is_set():
                break
            await asyncio.sleep(0.1)
        return Response(small_jpeg(), media_type="image/jpeg")


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"title": title, "detail": detail, "status": status}, status_code=status)


def _input_problem(body: object) -> str | None:
    """seedream-4's input schema (external-apis.md §1.10), checked as Replicate would."""
    if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
        return "input is required"
    given = body["input"]
    if not isinstance(given.get("prompt"), str) or not given["prompt"]:
        return "prompt is required"
    images = given.get("image_input", [])
    if not isinstance(images, list) or not 0 <= len(images) <= 10:
        return "image_input must be a list of 1 to 10 URIs"
    for uri in images:
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://", "data:")):
            return "image_input items must be URIs"
    if given.get("size", "2K") not in SIZES:
        return "size must be one of 1K, 2K, 4K, custom"
    if given.get("aspect_ratio", "match_input_image") not in ASPECTS:
        return "aspect_ratio is not allowed"
    max_images = given.get("max_images", 1)
    if type(max_images) is not int or not 1 <= max_images <= 15:
        return "max_images must be 1 to 15"
    if given.get("sequential_image_generation", "disabled") not in {"disabled", "auto"}:
        return "sequential_image_generation must be disabled or auto"
    return None
