"""The try-on options (SPEC §4a) with `GENERATOR=replicate` against the loopback fake
Replicate: what the model is sent (prompt, input images), refunds and replays."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.config import Settings
from app.integrations.generator.replicate import (
    COLOUR_PROMPT,
    KEEP_COLOUR_PROMPT,
    REFERENCE_COLOUR_PROMPT,
    REFERENCE_PROMPT,
    VIEW_PROMPTS,
)
from app.models import CreditReason
from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.generation.replicate_app import replicate_resources, replicate_settings
from tests.generation.steps import first_style_id, run_jobs, upload
from tests.generation.test_reference_photo import red_haircut
from tests.generation.try_on import credits, ledger, status, try_on
from tests.integrations.generator.fake_replicate import FakeReplicate, Script


@pytest.fixture(scope="module")
async def replicate() -> AsyncIterator[FakeReplicate]:
    async with FakeReplicate() as fake:
        yield fake


@pytest.fixture
def settings(database_url: str, tmp_path: Path, replicate: FakeReplicate) -> Settings:
    return replicate_settings(database_url, tmp_path, replicate, webhooks="off")


@pytest.fixture
async def resources(
    settings: Settings, connection: AsyncConnection, replicate: FakeReplicate
) -> AsyncIterator[Resources]:
    async with replicate_resources(settings, connection, replicate) as resources:
        yield resources


async def _signed_in_with_selfie(client: httpx.AsyncClient, mail: Mail) -> dict[str, str]:
    await signed_up_and_verified(client, mail)
    return await upload(client)


async def test_replicate_is_asked_for_the_style_in_the_chosen_colour(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, replicate: FakeReplicate
) -> None:
    selfie = await _signed_in_with_selfie(client, mail)
    style_id = await first_style_id(client)
    coloured = await try_on(
        client, image_input_url=selfie["key"], style_id=style_id, hair_color="copper"
    )
    kept = await try_on(client, image_input_url=selfie["key"], style_id=style_id)
    assert coloured.status_code == kept.status_code == 200
    await run_jobs(resources)

    by_colour = sorted(replicate.creates, key=lambda c: "Hair colour:" in c.json["input"]["prompt"])
    keep_prompt, colour_prompt = (c.json["input"]["prompt"] for c in by_colour)
    assert colour_prompt.endswith(COLOUR_PROMPT.format(name="copper", hex="#b5562a"))
    assert keep_prompt.endswith(KEEP_COLOUR_PROMPT)
    # Same style, so the same cut before the colour sentence.
    assert colour_prompt.removesuffix(COLOUR_PROMPT.format(name="copper", hex="#b5562a")) == (
        keep_prompt.removesuffix(KEEP_COLOUR_PROMPT)
    )
    assert all(len(c.json["input"]["image_input"]) == 1 for c in replicate.creates)
    for body in (coloured.json(), kept.json()):
        assert (await status(client, body["image_id"]))["status"] == "completed"


async def test_a_coloured_replicate_job_that_fails_is_refunded_once(
    client: httpx.AsyncClient,
    mail: Mail,
    resources: Resources,
    replicate: FakeReplicate,
    session: AsyncSession,
) -> None:
    selfie = await _signed_in_with_selfie(client, mail)
    replicate.script_next(Script(statuses=["failed"], error="NSFW content detected"))
    image_id = (
        await try_on(
            client,
            "k-red",
            image_input_url=selfie["key"],
            style_id=await first_style_id(client),
            hair_color="auburn",
        )
    ).json()["image_id"]
    await run_jobs(resources)
    body = await status(client, image_id)
    assert body["status"] == "failed"
    assert await credits(client) == 4
    assert await ledger(session, image_id, CreditReason.REFUND) == 1
    [create] = replicate.creates
    assert "auburn" in create.json["input"]["prompt"]
    replay = await try_on(
        client,
        "k-red",
        image_input_url=selfie["key"],
        style_id=await first_style_id(client),
        hair_color="auburn",
    )
    assert replay.json()["image_id"] == image_id
    assert await credits(client) == 4


def _data_uri(data: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


async def test_replicate_gets_the_selfie_and_the_reference_and_a_hair_only_prompt(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, replicate: FakeReplicate
) -> None:
    selfie = await _signed_in_with_selfie(client, mail)
    reference = await upload(client, red_haircut())
    started = await try_on(
        client, image_input_url=selfie["key"], reference_image_url=reference["file_url"]
    )
    assert started.status_code == 200, started.text
    image_id = started.json()["image_id"]
    await run_jobs(resources)
    assert (await status(client, image_id))["status"] == "completed"

    [create] = replicate.creates
    person, haircut = create.json["input"]["image_input"]
    # The checked copies of the two uploads, in that order: the person first, then the haircut.
    assert person == _data_uri(await resources.storage.get(selfie["key"]))
    assert haircut == _data_uri(await resources.storage.get(reference["key"]))
    assert create.json["input"]["prompt"] == REFERENCE_PROMPT + REFERENCE_COLOUR_PROMPT

    views = await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    assert views.status_code == 200, views.text
    await run_jobs(resources)
    view_creates = replicate.creates[1:]
    assert sorted(c.json["input"]["prompt"] for c in view_creates) == sorted(VIEW_PROMPTS.values())
    assert all(len(c.json["input"]["image_input"]) == 1 for c in view_creates)


async def test_a_haircut_from_a_photo_in_a_colour_that_fails_on_replicate_is_refunded(
    client: httpx.AsyncClient,
    mail: Mail,
    resources: Resources,
    replicate: FakeReplicate,
    session: AsyncSession,
) -> None:
    selfie = await _signed_in_with_selfie(client, mail)
    reference = await upload(client, red_haircut())
    body = {
        "image_input_url": selfie["key"],
        "reference_image_url": reference["key"],
        "hair_color": "platinum",
    }
    replicate.script_next(Script(statuses=["processing", "failed"], error="CUDA out of memory"))
    replicate.script_next(Script(statuses=["failed"], error="NSFW content detected"))
    image_id = (await try_on(client, "k-ref", **body)).json()["image_id"]
    await run_jobs(resources)
    assert (await status(client, image_id))["status"] == "failed"
    assert await credits(client) == 4
    assert await ledger(session, image_id, CreditReason.REFUND) == 1
    prompts = {c.json["input"]["prompt"] for c in replicate.creates}
    assert prompts == {
        REFERENCE_PROMPT + COLOUR_PROMPT.format(name="platinum blonde", hex="#e8e2d2")
    }
    assert all(len(c.json["input"]["image_input"]) == 2 for c in replicate.creates)
    assert (await try_on(client, "k-ref", **body)).json()["image_id"] == image_id
    keep = await try_on(client, "k-ref", **{**body, "hair_color": "keep"})
    assert keep.json()["detail"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await credits(client) == 4
