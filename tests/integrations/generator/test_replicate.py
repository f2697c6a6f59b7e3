"""The Replicate adapter against the loopback fake Replicate (real HTTP both ways): the create
body exactly as seedream-4 wants it, Cancel-After, the prediction id handed over before any
wait, every status, failure classification, 429 as "later", and outputs copied through the
SSRF-safe fetcher (SSRF-01) with size and pixel caps, never with our token."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from app.core.config import Settings
from app.integrations.fetcher import FetchFailed, FetchRefused
from app.integrations.generator import (
    GenerationFailed,
    GenerationRequest,
    ProviderBusy,
    StyleSpec,
    View,
)
from app.integrations.generator.replicate import (
    VIEW_PROMPTS,
    ReplicateGenerator,
    classify_failure,
    is_public_url,
)
from app.integrations.webhooks import InvalidWebhookSignature
from app.wiring import build_generator
from tests.integrations.generator.fake_replicate import (
    API_TOKEN,
    FakeReplicate,
    Script,
    small_jpeg,
)

STYLE = StyleSpec(
    name="Bob", prompt="A chin-length bob, keep the face identical", palette=("#332211",)
)
SELFIE = small_jpeg(7)
CREATE_PATH = "/v1/models/bytedance/seedream-4/predictions"


class Slot:
    """A PredictionSlot that remembers what it was told, and the fake's state at that time."""

    def __init__(self, fake: FakeReplicate, existing: str | None = None) -> None:
        self.fake = fake
        self.existing = existing
        self.submitted_ids: list[str] = []
        self.status_when_submitted: list[str] = []

    async def current(self) -> str | None:
        return self.existing

    async def submitted(self, prediction_id: str) -> None:
        self.submitted_ids.append(prediction_id)
        self.status_when_submitted.append(self.fake.prediction(prediction_id)["status"])
        self.existing = prediction_id


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate() as replicate:
        yield replicate


def replicate_settings(fake: FakeReplicate, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "GENERATOR": "replicate",
        "REPLICATE_API_TOKEN": API_TOKEN,
        "REPLICATE_BASE_URL": fake.base_url,
        "REPLICATE_POLL_INTERVAL_S": 0.01,
        "REPLICATE_WEBHOOKS": "off",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
async def adapter(fake: FakeReplicate) -> AsyncIterator[ReplicateGenerator]:
    fake.reset()
    generator = build_generator(replicate_settings(fake), output_fetcher=fake.output_fetcher())
    assert isinstance(generator, ReplicateGenerator)
    yield generator
    await generator.aclose()


def request(
    *,
    view: View = View.FRONT,
    deadline_s: float = 120,
    image_url: str | None = "http://127.0.0.1:8000/media/uploads/u/selfie.jpg?sig=x",
    slot: Slot | None = None,
) -> GenerationRequest:
    return GenerationRequest(
        style=STYLE,
        view=view,
        deadline_s=deadline_s,
        image_bytes=SELFIE,
        image_url=image_url,
        prediction=slot,
    )


async def test_create_body_is_exactly_the_seedream_input_with_cancel_after(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    result = await adapter.generate(request(deadline_s=95.7))

    [create] = fake.creates
    assert create.path == CREATE_PATH
    assert create.headers["authorization"] == f"Bearer {API_TOKEN}"
    assert create.headers["cancel-after"] == "95s"
    assert "prefer" not in create.headers  # the id must come back at once (JOB-02)
    # Local storage serves loopback URLs Replicate cannot fetch: the bytes go inline.
    assert create.json == {
        "input": {
            "prompt": STYLE.prompt,
            "image_input": ["data:image/jpeg;base64," + base64.b64encode(SELFIE).decode()],
            "size": "2K",
            "aspect_ratio": "match_input_image",
            "max_images": 1,
            "sequential_image_generation": "disabled",
        }
    }
    pid = fake.ids()[0]
    assert result.provider_id == pid
    assert result.is_preview is False
    assert result.content_type == "image/jpeg"
    assert result.data == fake_output(fake, pid)


def fake_output(fake: FakeReplicate, pid: str) -> bytes:
    [url] = fake.prediction(pid)["output"]
    assert url.startswith("https://replicate.delivery/")
    [cdn] = [r for r in fake.cdn_requests if r.url.path in url]
    # The file host never sees our token; the connection went to the checked address.
    assert "authorization" not in cdn.headers
    assert cdn.headers["host"] == "replicate.delivery"
    return _served(fake, url)


def _served(fake: FakeReplicate, url: str) -> bytes:
    response = httpx.get(fake.base_url + httpx.URL(url).path)
    assert response.status_code == 200
    return response.content


async def test_a_public_presigned_url_is_sent_as_is_and_views_get_our_prompts(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    url = "https://hairtry.s3.ap-south-1.amazonaws.com/uploads/u/1/selfie.jpg?X-Amz-Signature=a"
    await adapter.generate(request(view=View.RIGHT, image_url=url))
    [create] = fake.creates
    assert create.json["input"]["image_input"] == [url]
    assert create.json["input"]["prompt"] == VIEW_PROMPTS[View.RIGHT]
    assert "identity" in VIEW_PROMPTS[View.RIGHT]
    assert "lighting" in VIEW_PROMPTS[View.RIGHT]


async def test_the_prediction_id_is_handed_over_before_any_wait(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    slot = Slot(fake)
    result = await adapter.generate(request(slot=slot))
    assert slot.submitted_ids == [result.provider_id]
    assert slot.status_when_submitted == ["starting"]


async def test_a_restarted_job_reattaches_to_its_running_prediction(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    first = await adapter.create(request())
    slot = Slot(fake, existing=first["id"])
    result = await adapter.generate(request(slot=slot))
    assert result.provider_id == first["id"]
    assert len(fake.creates) == 1
    assert slot.submitted_ids == []


async def test_a_restarted_job_whose_prediction_failed_for_capacity_starts_another(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    fake.script_next(Script(statuses=["failed"], error="CUDA out of memory"))
    first = await adapter.create(request())
    fake.finish(first["id"])
    slot = Slot(fake, existing=first["id"])
    result = await adapter.generate(request(slot=slot))
    assert result.provider_id != first["id"]
    assert slot.submitted_ids == [result.provider_id]


async def test_webhook_mode_asks_for_completed_events_only(fake: FakeReplicate) -> None:
    fake.reset()
    settings = replicate_settings(
        fake, REPLICATE_WEBHOOKS="auto", PUBLIC_BASE_URL="https://api.hairtryon.example"
    )
    generator = build_generator(settings, output_fetcher=fake.output_fetcher())
    assert isinstance(generator, ReplicateGenerator)
    try:
        await generator.generate(request())
    finally:
        await generator.aclose()
    [create] = fake.creates
    assert create.json["webhook"] == "https://api.hairtryon.example/api/v1/webhooks/replicate"
    assert create.json["webhook_events_filter"] == ["completed"]


@pytest.mark.parametrize(
    ("public_base_url", "mode", "expected"),
    [
        ("http://127.0.0.1:8000", "auto", False),
        ("http://localhost:8000", "auto", False),
        ("http://10.1.2.3", "auto", False),
        ("http://api.internal", "auto", False),
        ("https://api.hairtryon.example", "auto", True),
        ("https://api.hairtryon.example", "off", False),
        ("http://127.0.0.1:8000", "on", True),
    ],
)
def test_webhooks_only_when_replicate_can_reach_us(
    public_base_url: str, mode: str, expected: bool
) -> None:
    from app.wiring import replicate_webhook_url

    settings = Settings(_env_file=None, PUBLIC_BASE_URL=public_base_url, REPLICATE_WEBHOOKS=mode)
    assert (replicate_webhook_url(settings) is not None) is expected
    assert is_public_url(public_base_url) is (public_base_url.startswith("https://api."))


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        ("Output flagged as sensitive content (E005)", "CONTENT_REJECTED", False),
        ("NSFW content detected", "CONTENT_REJECTED", False),
        ("Invalid image: cannot identify image file", "INVALID_IMAGE", False),
        ("CUDA out of memory", "PROVIDER_UNAVAILABLE", True),
        ("Service is at capacity, try again later", "PROVIDER_UNAVAILABLE", True),
        ("something odd", "GENERATION_FAILED", False),
    ],
)
async def test_failed_predictions_are_classified_into_our_codes(
    adapter: ReplicateGenerator, fake: FakeReplicate, error: str, code: str, retryable: bool
) -> None:
    assert classify_failure(error).code == code
    fake.script_next(Script(statuses=["processing", "failed"], error=error))
    with pytest.raises(GenerationFailed) as failed:
        await adapter.generate(request())
    assert failed.value.code == code
    assert failed.value.retryable is retryable


async def test_job03_aborted_is_a_timeout_that_is_not_retried(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    fake.script_next(Script(statuses=["aborted"]))
    with pytest.raises(GenerationFailed) as failed:
        await adapter.generate(request())
    assert (failed.value.code, failed.value.retryable) == ("GENERATION_TIMEOUT", False)


async def test_job03_canceled_fails_without_retry(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    fake.script_next(Script(statuses=["processing", "canceled"]))
    with pytest.raises(GenerationFailed) as failed:
        await adapter.generate(request())
    assert (failed.value.code, failed.value.retryable) == ("GENERATION_FAILED", False)


async def test_job03_an_unknown_status_fails_and_cancels_the_prediction(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    fake.script_next(Script(statuses=["processing", "exploded"]))
    with pytest.raises(GenerationFailed) as failed:
        await adapter.generate(request())
    assert (failed.value.code, failed.value.retryable) == ("GENERATION_FAILED", False)
    pid = fake.ids()[0]
    assert any(r.path == f"/v1/predictions/{pid}/cancel" for r in fake.requests)


async def test_job03_a_prediction_stuck_processing_is_canceled_at_the_deadline(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    fake.script_next(Script(statuses=["processing"]))
    with pytest.raises(GenerationFailed) as failed:
        await adapter.generate(request(deadline_s=0.3))
    assert failed.value.code == "GENERATION_TIMEOUT"
    pid = fake.ids()[0]
    assert fake.prediction(pid)["status"] == "canceled"


async def test_429_on_create_is_provider_busy_with_replicates_delay(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    fake.throttled(retry_after=7)
    with pytest.raises(ProviderBusy) as busy:
        await adapter.generate(request())
    assert busy.value.retry_after_s == 7
    assert fake.ids() == []


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (500, "PROVIDER_UNAVAILABLE", True),
        (503, "PROVIDER_UNAVAILABLE", True),
        (422, "INVALID_IMAGE", False),
    ],
)
async def test_create_errors_are_classified(
    adapter: ReplicateGenerator, fake: FakeReplicate, status: int, code: str, retryable: bool
) -> None:
    fake.fail_next(status, path_prefix="/v1/models/")
    with pytest.raises(GenerationFailed) as failed:
        await adapter.generate(request())
    assert (failed.value.code, failed.value.retryable) == (code, retryable)


async def test_a_wrong_token_is_an_outage_no_retry_can_fix(fake: FakeReplicate) -> None:
    fake.reset()
    settings = replicate_settings(fake, REPLICATE_API_TOKEN="r8_wrong")
    generator = build_generator(settings, output_fetcher=fake.output_fetcher())
    try:
        with pytest.raises(GenerationFailed) as failed:
            await generator.generate(request())
    finally:
        await generator.aclose()  # type: ignore[attr-defined]
    assert (failed.value.code, failed.value.retryable) == ("PROVIDER_UNAVAILABLE", False)


async def test_a_data_uri_output_is_decoded_and_checked(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    fake.script_next(Script(output="data", output_bytes=small_jpeg(3)))
    result = await adapter.generate(request())
    assert result.data == small_jpeg(3)
    assert fake.cdn_requests == []


# --- SSRF-01 for the output fetcher ------------------------------------------------------


async def test_ssrf01_an_output_on_a_loopback_http_url_is_refused(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    fake.script_next(Script(output="http"))
    with pytest.raises(GenerationFailed) as failed:
        await adapter.generate(request())
    assert (failed.value.code, failed.value.retryable) == ("GENERATION_FAILED", False)
    assert fake.cdn_requests == []


async def test_ssrf01_an_output_host_resolving_to_an_internal_address_is_refused(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    fake.script_next(Script(output="internal"))
    with pytest.raises(GenerationFailed) as failed:
        await adapter.generate(request())
    assert failed.value.code == "GENERATION_FAILED"
    assert fake.cdn_requests == []


async def test_ssrf01_an_output_redirecting_to_an_internal_address_is_not_followed(
    fake: FakeReplicate,
) -> None:
    fake.reset()
    async with fake.output_fetcher() as fetcher:
        with pytest.raises(FetchRefused, match="non-public"):
            await fetcher.fetch("https://replicate.delivery/redirect-inward")
    # The only request that left went to the checked CDN address, not the redirect target.
    assert [(r.url.host, r.url.path) for r in fake.cdn_requests] == [
        ("151.101.1.1", "/redirect-inward")
    ]


async def test_ssrf01_a_stalled_output_download_times_out(fake: FakeReplicate) -> None:
    fake.reset()
    async with fake.output_fetcher(timeout=0.5) as fetcher:
        with pytest.raises(FetchFailed, match="did not finish"):
            await fetcher.fetch("https://replicate.delivery/stalled")


async def test_ssrf01_an_oversized_output_is_refused(fake: FakeReplicate) -> None:
    fake.reset()
    generator = build_generator(
        replicate_settings(fake), output_fetcher=fake.output_fetcher(max_bytes=1000)
    )
    fake.script_next(Script(output_bytes=small_jpeg(1, size=(400, 400)) + b"\0" * 2000))
    try:
        with pytest.raises(GenerationFailed) as failed:
            await generator.generate(request())
    finally:
        await generator.aclose()  # type: ignore[attr-defined]
    assert (failed.value.code, failed.value.retryable) == ("GENERATION_FAILED", False)


async def test_an_output_over_the_pixel_cap_is_refused_before_decoding(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    fake.script_next(Script(output="data", output_bytes=png_declaring(20_000, 20_000)))
    with pytest.raises(GenerationFailed) as failed:
        await adapter.generate(request())
    assert failed.value.code == "GENERATION_FAILED"


async def test_an_output_url_that_expired_is_an_outage_worth_another_prediction(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    prediction = await adapter.create(request())
    finished = fake.finish(prediction["id"])
    fake.expire_outputs()  # Replicate deleted the files (we were too late)
    with pytest.raises(GenerationFailed) as failed:
        await adapter.result_of(finished)
    assert (failed.value.code, failed.value.retryable) == ("PROVIDER_UNAVAILABLE", True)


# --- the fake's own contract (external-apis.md §1.11) -----------------------------------


async def test_fake_replicate_speaks_the_wire_format(fake: FakeReplicate) -> None:
    fake.reset()
    body = {"input": {"prompt": "p", "image_input": ["https://x.example/a.jpg"]}}
    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        unauthenticated = await client.post(CREATE_PATH, json=body)
        assert unauthenticated.status_code == 401
        assert unauthenticated.json()["title"] == "Unauthenticated"
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        waited = await client.post(CREATE_PATH, json=body, headers={**auth, "Prefer": "wait=5"})
        assert waited.status_code == 201
        assert waited.headers["preference-applied"] == "wait"
        assert waited.json()["status"] == "succeeded"
        created = await client.post(CREATE_PATH, json=body, headers=auth)
        prediction = created.json()
        assert len(prediction["id"]) == 26
        assert prediction["id"].isalnum()
        assert prediction["status"] == "starting"
        assert prediction["created_at"].endswith("Z")
        assert prediction["urls"]["get"] == f"{fake.base_url}/v1/predictions/{prediction['id']}"
        got = await client.get(f"/v1/predictions/{prediction['id']}", headers=auth)
        assert got.json()["status"] == "processing"
        canceled = await client.post(f"/v1/predictions/{prediction['id']}/cancel", headers=auth)
        assert canceled.json()["status"] == "canceled"
        assert canceled.json()["output"] is None
        aborting = await client.post(
            CREATE_PATH, json=body, headers={**auth, "Cancel-After": "1ms"}
        )
        after = await client.get(f"/v1/predictions/{aborting.json()['id']}", headers=auth)
        assert after.json()["status"] == "aborted"
        bad = await client.post(
            CREATE_PATH, json={"input": {"size": "8K", "prompt": "p"}}, headers=auth
        )
        assert bad.status_code == 422
        secret = await client.get("/v1/webhooks/default/secret", headers=auth)
        assert secret.json() == {"key": fake.webhook_secret}


async def test_the_webhook_secret_is_fetched_once_and_verifies_fake_deliveries(
    adapter: ReplicateGenerator, fake: FakeReplicate
) -> None:
    delivery = fake.webhook_for({"id": "abc", "status": "succeeded"})
    verifier = await adapter.webhook_verifier()
    assert verifier.verify(delivery.body, delivery.headers).payload["id"] == "abc"
    await adapter.webhook_verifier()
    assert sum(r.path == "/v1/webhooks/default/secret" for r in fake.requests) == 1
    with pytest.raises(InvalidWebhookSignature):
        verifier.verify(delivery.body + b" ", delivery.headers)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat_data = zlib.compress(b"\0" * 64)
    idat = b"IDAT" + idat_data
    idat_chunk = struct.pack(">I", len(idat_data)) + idat + struct.pack(">I", zlib.crc32(idat))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat_chunk + b"\0\0\0\0IEND\xaeB`\x82"
