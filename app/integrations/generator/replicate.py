"""The Replicate generator (`GENERATOR=replicate`): real try-ons with `bytedance/seedream-4`.

Plain httpx against Replicate's REST API, not the `replicate` SDK (1.0.7), because of what the
pitfalls in external-apis.md §1.8/§1.9 leave us:

- we send `Cancel-After` so an expired prediction ends `aborted` (uncharged); the SDK's
  `Prediction.status` is a closed Literal without `aborted`, so the answer we asked for would
  raise a pydantic ValidationError inside the SDK;
- the SDK's `FileOutput` downloads outputs with the Replicate client, sending our bearer token
  to the file host, with no size cap; outputs must go through our SSRF-safe fetcher;
- the SDK never retries a POST (create, cancel) on 429, so it gives us nothing there: a 429 on
  create becomes `ProviderBusy` and the job is re-queued with the delay Replicate asked for;
- `run()` can return no output for slow predictions (#385) and `wait=False` still blocks
  (#411); we create, store the id, and then wait by webhook and polling ourselves.

`Prefer: wait` is not used: the prediction id would only come back at the end of the wait,
and a worker that died meanwhile would leave a billable prediction nobody knows about (JOB-02).
The id is handed to the job's `PredictionSlot` the moment the 201 arrives.

Completion: with a webhook URL, Replicate posts the finished prediction to our signed webhook
route (`app/generation/predictions.py` settles it); the worker still polls, slowly, as the
safety net for a lost webhook. Without one, the worker polls with backoff. Both end in the
same idempotent completion (a conditional UPDATE keyed on the prediction id, JOB-05).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import httpx

from app.core.imaging import TooManyPixels, UndecodableImage, decode_image, sniff_image_type
from app.integrations.fetcher import FetchFailed, FetchRefused, SafeFetcher, is_public_address
from app.integrations.generator.port import (
    GenerationFailed,
    GenerationRequest,
    GenerationResult,
    ProviderBusy,
    View,
)
from app.integrations.webhooks import WebhookVerifier

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.replicate.com"
DEFAULT_MODEL = "bytedance/seedream-4"
# Replicate's file CDN; outputs from anywhere else are refused.
OUTPUT_HOSTS = frozenset({"replicate.delivery", ".replicate.delivery"})
DEFAULT_MAX_OUTPUT_BYTES = 32 * 1024 * 1024
STARTING, PROCESSING = "starting", "processing"
SUCCEEDED, FAILED, CANCELED, ABORTED = "succeeded", "failed", "canceled", "aborted"
RUNNING = frozenset({STARTING, PROCESSING})
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELED, ABORTED})
# Without a Retry-After we wait this long after a 429 (Replicate's low-credit limit is 6/min).
DEFAULT_RETRY_AFTER_S = 10.0
MAX_RETRY_AFTER_S = 300.0
_PREDICTION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".test")

# Our own prompts for the side views: the input is the finished front image, so they ask for
# the same person, hair and light from another angle, and nothing else changed.
VIEW_PROMPTS: dict[View, str] = {
    View.RIGHT: (
        "The same person seen from their right side, in right profile. Keep the face and "
        "identity, the exact hairstyle, hair colour, length and texture, the clothing, the "
        "lighting and the background unchanged. Photorealistic, same camera and framing."
    ),
    View.LEFT: (
        "The same person seen from their left side, in left profile. Keep the face and "
        "identity, the exact hairstyle, hair colour, length and texture, the clothing, the "
        "lighting and the background unchanged. Photorealistic, same camera and framing."
    ),
    View.BACK: (
        "The same person seen from directly behind, showing the back of the head. Keep the "
        "exact hairstyle, hair colour, length and texture, the clothing, the lighting and the "
        "background unchanged. Photorealistic, same camera and framing."
    ),
}

# What the person's colour choice adds to a style's prompt (our prompts describe the cut only;
# the colour is chosen separately). "Keep" is said out loud: unprompted, the model drifts.
KEEP_COLOUR_PROMPT = (
    " Keep the person's own natural hair colour exactly as it is in the photo; change only the"
    " cut, length and texture."
)
COLOUR_PROMPT = " Hair colour: {name} (close to {hex}), even and natural, with realistic depth."


# "This haircut from a photo": image 1 is the person, image 2 the haircut. Only the hair moves
# across; models copy faces and backgrounds from a second image unless told not to.
REFERENCE_PROMPT = (
    "Edit the first image, a photo of a person. Keep the same person: identical face, facial "
    "features, skin tone, expression, age, head pose, clothing, background and lighting. Change "
    "only the hair: give them the haircut shown in the second image, with its cut, length, "
    "shape and texture. Take nothing else from the second image: not its face, person, "
    "clothing, background or lighting. Photorealistic, natural hairline, realistic strands, "
    "seamless blend with the photo."
)
REFERENCE_COLOUR_PROMPT = " Hair colour: as in the second image."


def front_prompt(request: GenerationRequest) -> str:
    """The style's prompt (or the reference prompt) with the person's colour choice. No choice:
    the style alone, or the reference's own colour."""
    has_reference = request.reference_bytes is not None or request.reference_url is not None
    base = REFERENCE_PROMPT if has_reference else request.style.prompt
    colour = request.hair_color
    if colour is None:
        return base + REFERENCE_COLOUR_PROMPT if has_reference else base
    if colour.hex is None:
        return base + KEEP_COLOUR_PROMPT
    return base + COLOUR_PROMPT.format(name=colour.name.lower(), hex=colour.hex)


# Lower-cased fragments of Replicate/model error texts, first match wins.
_CONTENT_MARKERS = ("nsfw", "flagged", "sensitive", "safety", "content policy", "moderation")
_INPUT_MARKERS = (
    "image_input",
    "invalid image",
    "cannot identify image",
    "could not read image",
    "unsupported image",
    "failed to download",
    "input validation",
)
_CAPACITY_MARKERS = (
    "out of memory",
    "cuda",
    "capacity",
    "overloaded",
    "unavailable",
    "timed out",
    "timeout",
    "internal server error",
    "try again",
    "503",
    "502",
)


def classify_failure(error: object) -> GenerationFailed:
    """Our failure for a `failed` prediction's `error` text (SPEC §0 codes)."""
    text = str(error or "").lower()
    if any(marker in text for marker in _CONTENT_MARKERS):
        return GenerationFailed("CONTENT_REJECTED")
    if any(marker in text for marker in _INPUT_MARKERS):
        return GenerationFailed("INVALID_IMAGE")
    if any(marker in text for marker in _CAPACITY_MARKERS):
        return GenerationFailed("PROVIDER_UNAVAILABLE")
    return GenerationFailed("GENERATION_FAILED", "The image generator could not make this image.")


def failure_of(prediction: Mapping[str, Any]) -> GenerationFailed | None:
    """The failure a terminal, unsuccessful prediction means; None for running/succeeded."""
    status = prediction.get("status")
    if status == FAILED:
        return classify_failure(prediction.get("error"))
    if status == ABORTED:
        # Cancel-After fired before it started: the job's deadline has passed, nothing billed.
        return GenerationFailed("GENERATION_TIMEOUT", retryable=False)
    if status == CANCELED:
        return GenerationFailed(
            "GENERATION_FAILED", "The generation was canceled.", retryable=False
        )
    if status in RUNNING or status == SUCCEEDED:
        return None
    return GenerationFailed(
        "GENERATION_FAILED", "The image generator reported an unknown state.", retryable=False
    )


def is_public_url(url: str) -> bool:
    """Whether an outside service could reach `url`: not loopback, private, link-local or a
    local-only name. Names are not resolved; an operator's public name is taken at its word."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return False
    if parsed.scheme not in ("http", "https"):
        return False
    host = parsed.host.lower().rstrip(".")
    if not host:
        return False
    try:
        return is_public_address(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    if "." not in host or host == "localhost":
        return False
    return not host.endswith(_LOCAL_SUFFIXES)


def data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class ReplicateConfig:
    api_token: str
    model: str = DEFAULT_MODEL
    base_url: str = DEFAULT_BASE_URL
    image_size: str = "2K"
    # Where Replicate posts the finished prediction; None = poll only.
    webhook_url: str | None = None
    poll_initial_s: float = 1.0
    poll_max_s: float = 10.0
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    max_pixels: int = 40_000_000
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        owner, slash, name = self.model.partition("/")
        if not (owner and slash and name) or "/" in name:
            raise ValueError("REPLICATE_MODEL must be 'owner/name'")
        if self.base_url.rstrip("/").endswith("/v1"):
            # Our paths start with /v1 (as the SDK's do): .../v1 would request /v1/v1/...
            raise ValueError("REPLICATE_BASE_URL is the host root, without /v1")


class ReplicateGenerator:
    def __init__(
        self,
        config: ReplicateConfig,
        *,
        fetcher: SafeFetcher,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.fetcher = fetcher
        self._client = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {config.api_token}",
                "User-Agent": "hairtryon-backend",
            },
            timeout=httpx.Timeout(config.timeout_s, connect=5.0),
            follow_redirects=False,
            transport=transport,
        )
        self._secret: str | None = None
        self._secret_fetched_at = 0.0
        self._secret_lock = asyncio.Lock()

    @property
    def uses_webhooks(self) -> bool:
        return self.config.webhook_url is not None

    def describe(self) -> dict[str, str]:
        """What /ready reports: never the token."""
        return {
            "backend": "replicate",
            "model": self.config.model,
            "size": self.config.image_size,
            "completion": "webhook+polling" if self.uses_webhooks else "polling",
        }

    async def aclose(self) -> None:
        await self._client.aclose()
        await self.fetcher.aclose()

    # --- the generation --------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        deadline = time.monotonic() + request.deadline_s
        if request.deadline_s <= 0:
            raise GenerationFailed("GENERATION_TIMEOUT")
        prediction = await self._reattach(request)
        if prediction is None:
            prediction = await self.create(request)
            if request.prediction is not None:
                await request.prediction.submitted(str(prediction["id"]))
        final = await self._wait(prediction, deadline)
        return await self.result_of(final)

    async def _reattach(self, request: GenerationRequest) -> dict[str, Any] | None:
        """The prediction an earlier attempt of this job started, if it can still give the
        result: running or succeeded with its files. One that failed for a reason another try
        cannot fix fails the job now instead of paying for the same refusal again."""
        existing = await request.prediction.current() if request.prediction else None
        if not existing:
            return None
        try:
            prediction = await self.get(existing)
        except GenerationFailed:
            return None
        if prediction.get("status") == SUCCEEDED and prediction.get("data_removed"):
            return None
        failure = failure_of(prediction)
        if failure is None:
            logger.info("re-attaching to prediction %s", existing)
            return prediction
        if failure.retryable:
            return None
        raise failure

    def input_for(self, request: GenerationRequest) -> dict[str, Any]:
        front = request.view is View.FRONT
        images = [_image_reference(request.image_bytes, request.image_url, "photo")]
        if front and (request.reference_bytes is not None or request.reference_url is not None):
            # Side views start from the finished front image: the haircut is in it already.
            images.append(
                _image_reference(request.reference_bytes, request.reference_url, "reference photo")
            )
        return {
            "prompt": front_prompt(request) if front else VIEW_PROMPTS[request.view],
            "image_input": images,
            "size": self.config.image_size,
            "aspect_ratio": "match_input_image",
            "max_images": 1,
            "sequential_image_generation": "disabled",
        }

    async def create(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"input": self.input_for(request)}
        if self.config.webhook_url:
            body["webhook"] = self.config.webhook_url
            body["webhook_events_filter"] = ["completed"]
        # Whole seconds, at least one: Replicate ends the prediction (aborted if it never
        # started, so unbilled) when the job could no longer use it.
        cancel_after = f"{max(1, int(request.deadline_s))}s"
        response = await self._call(
            "POST",
            f"/v1/models/{self.config.model}/predictions",
            json=body,
            headers={"Cancel-After": cancel_after},
        )
        if response.status_code == 429:
            raise ProviderBusy(_retry_after(response))
        prediction = self._prediction(response, expected=(200, 201, 202))
        logger.info("created prediction %s", prediction["id"])
        return prediction

    async def get(self, prediction_id: str) -> dict[str, Any]:
        response = await self._call("GET", f"/v1/predictions/{prediction_id}")
        return self._prediction(response, expected=(200,))

    async def cancel(self, prediction_id: str) -> None:
        """Best effort: Cancel-After ends it anyway."""
        try:
            await self._call("POST", f"/v1/predictions/{prediction_id}/cancel")
        except GenerationFailed:
            logger.warning("could not cancel prediction %s", prediction_id)

    async def _wait(self, prediction: dict[str, Any], deadline: float) -> dict[str, Any]:
        interval = self.config.poll_initial_s
        prediction_id = str(prediction["id"])
        while True:
            status = prediction.get("status")
            if status in TERMINAL:
                return prediction
            if status not in RUNNING:
                await self.cancel(prediction_id)
                logger.warning("prediction %s reported unknown status %r", prediction_id, status)
                return prediction  # result_of turns it into a failure
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self.cancel(prediction_id)
                raise GenerationFailed("GENERATION_TIMEOUT", retryable=False)
            await asyncio.sleep(min(interval, remaining))
            interval = min(interval * 1.5, self.config.poll_max_s)
            try:
                prediction = await self.get(prediction_id)
            except GenerationFailed as failure:
                if not failure.retryable:
                    raise
                # A blip while polling changes nothing at Replicate: poll again.
                logger.warning("polling prediction %s failed: %s", prediction_id, failure)

    async def result_of(self, prediction: Mapping[str, Any]) -> GenerationResult:
        """The image of a finished prediction, copied out of Replicate at once (its files are
        deleted after an hour), or the failure it means."""
        failure = failure_of(prediction)
        if failure is not None:
            raise failure
        if prediction.get("status") != SUCCEEDED:
            raise GenerationFailed("GENERATION_FAILED", "The prediction has not finished.")
        output = prediction.get("output")
        first = output[0] if isinstance(output, list) and output else output
        if not isinstance(first, str):
            raise GenerationFailed("GENERATION_FAILED", "The image generator returned no image.")
        data = await self._download(first)
        content_type = await self._checked_type(data)
        return GenerationResult(
            data=data,
            content_type=content_type,
            provider_id=str(prediction.get("id")),
            is_preview=False,
        )

    async def _download(self, uri: str) -> bytes:
        if uri.startswith("data:"):
            return self._decode_data_uri(uri)
        try:
            # Our own fetcher: allow-listed hosts only, public addresses only, size cap, no
            # bearer token (the SDK's FileOutput would send it to the file host).
            return (await self.fetcher.fetch(uri)).data
        except FetchRefused as exc:
            logger.warning("refused a prediction output: %s", exc)
            raise GenerationFailed(
                "GENERATION_FAILED", "The generated image could not be used.", retryable=False
            ) from exc
        except FetchFailed as exc:
            logger.warning("could not download a prediction output: %s", exc)
            raise GenerationFailed("PROVIDER_UNAVAILABLE") from exc

    def _decode_data_uri(self, uri: str) -> bytes:
        header, comma, payload = uri.partition(",")
        if not comma or not header.endswith(";base64"):
            raise GenerationFailed("GENERATION_FAILED", "The generated image is unreadable.")
        if len(payload) * 3 // 4 > self.config.max_output_bytes:
            raise GenerationFailed("GENERATION_FAILED", "The generated image is too large.")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise GenerationFailed(
                "GENERATION_FAILED", "The generated image is unreadable."
            ) from exc

    async def _checked_type(self, data: bytes) -> str:
        """The content type, after a full decode under the pixel cap (UP-06) off the loop."""
        content_type = sniff_image_type(data)
        if content_type not in ("image/jpeg", "image/png", "image/webp"):
            raise GenerationFailed("GENERATION_FAILED", "The generated file is not an image.")

        def check() -> None:
            decode_image(data, max_pixels=self.config.max_pixels).close()

        try:
            await anyio.to_thread.run_sync(check)
        except (TooManyPixels, UndecodableImage) as exc:
            raise GenerationFailed("GENERATION_FAILED", "The generated image is unusable.") from exc
        return content_type

    # --- webhooks --------------------------------------------------------------------

    async def webhook_verifier(self, *, refresh: bool = False) -> WebhookVerifier:
        """The verifier for Replicate's signing secret (`GET /v1/webhooks/default/secret`),
        fetched once and cached; `refresh` re-reads it (a rotated key), at most once a
        minute so forged deliveries cannot make us hammer the API."""
        async with self._secret_lock:
            stale = refresh and time.monotonic() - self._secret_fetched_at > 60
            if self._secret is None or stale:
                response = await self._call("GET", "/v1/webhooks/default/secret")
                key = response.json().get("key") if response.status_code == 200 else None
                if not isinstance(key, str) or not key:
                    raise GenerationFailed("PROVIDER_UNAVAILABLE", "No webhook signing secret.")
                self._secret, self._secret_fetched_at = key, time.monotonic()
            return WebhookVerifier([self._secret])

    # --- HTTP ------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return await self._client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise GenerationFailed(
                "PROVIDER_UNAVAILABLE", f"Replicate could not be reached ({type(exc).__name__})."
            ) from exc

    def _prediction(self, response: httpx.Response, *, expected: tuple[int, ...]) -> dict[str, Any]:
        status = response.status_code
        if status not in expected:
            raise _http_failure(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not _PREDICTION_ID.fullmatch(str(body.get("id", ""))):
            raise GenerationFailed(
                "PROVIDER_UNAVAILABLE", "Replicate answered without a prediction."
            )
        return body


def _image_reference(data: bytes | None, url: str | None, what: str) -> str:
    # A URL only when Replicate can fetch it (presigned S3/CDN); local storage in
    # development serves loopback URLs, so the bytes go inline.
    if url is not None and is_public_url(url):
        return url
    if data is None:
        raise GenerationFailed(
            "GENERATION_FAILED", f"The {what} is neither reachable by URL nor given as bytes."
        )
    content_type = sniff_image_type(data) or "image/jpeg"
    return data_uri(data, content_type)


def _http_failure(response: httpx.Response) -> GenerationFailed:
    status = response.status_code
    detail = _problem_detail(response)
    logger.warning("Replicate answered %s: %s", status, detail[:200])
    if status in (400, 422):
        return GenerationFailed("INVALID_IMAGE", retryable=False)
    if status in (401, 403):
        # Our token is wrong or revoked: no retry helps, the operator must act.
        return GenerationFailed("PROVIDER_UNAVAILABLE", "Replicate refused our credentials.", False)
    if status == 404:
        return GenerationFailed("PROVIDER_UNAVAILABLE", "Replicate does not know this.", False)
    if status == 429 or status >= 500:
        return GenerationFailed("PROVIDER_UNAVAILABLE")
    return GenerationFailed("GENERATION_FAILED", retryable=False)


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or "")
    return ""


def _retry_after(response: httpx.Response) -> float:
    """Seconds to wait after a 429: the body's `retry_after`, else the Retry-After header."""
    candidates: list[object] = []
    try:
        body = response.json()
        if isinstance(body, dict):
            candidates.append(body.get("retry_after"))
    except ValueError:
        pass
    candidates.append(response.headers.get("retry-after"))
    for value in candidates:
        try:
            seconds = float(str(value))
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return min(max(seconds, 1.0), MAX_RETRY_AFTER_S)
    return DEFAULT_RETRY_AFTER_S
