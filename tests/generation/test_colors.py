"""Hair colour (SPEC §4a) through the API on the local generator: the catalogue, the choice
on generate, its refusal, refund and idempotency."""

from __future__ import annotations

import re

import httpx
import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import IdempotencyKey
from app.models import Image as ImageRow
from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.files.images import jpeg
from tests.generation.steps import first_style_id, run_jobs, upload
from tests.generation.try_on import credits, ledger, legacy_hash, output_rgb, status, try_on


async def test_the_colour_catalogue_is_public_with_keep_first_and_hex_colours(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/image/colors")
    assert response.status_code == 200, response.text
    colours = response.json()
    assert colours[0] == {"id": "keep", "name": "Your own colour", "hex": None}
    assert len(colours) >= 17  # keep + about 16
    assert all(set(c) == {"id", "name", "hex"} for c in colours)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c["hex"]) for c in colours[1:])
    assert len({c["id"] for c in colours}) == len(colours)
    assert "public" in response.headers["Cache-Control"]


async def test_the_colours_path_is_not_taken_by_the_image_routes(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    # Signed in, so a route that captured the path would answer for an image, not 405/422.
    assert (await client.get("/api/v1/image/colors")).status_code == 200
    assert (await client.delete("/api/v1/image/colors")).status_code in {405, 422}
    selfie = await upload(client)
    image_id = (
        await try_on(client, image_input_url=selfie["key"], style_id=await first_style_id(client))
    ).json()["image_id"]
    assert (await client.delete(f"/api/v1/image/{image_id}")).status_code == 204
    assert (await client.get("/api/v1/image/colors")).status_code == 200


async def test_a_chosen_colour_shows_in_the_local_result_and_keep_is_the_default(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    style_id = await first_style_id(client)
    kept = (await try_on(client, image_input_url=selfie["key"], style_id=style_id)).json()
    blue = await try_on(
        client, image_input_url=selfie["key"], style_id=style_id, hair_color="ice-blue"
    )
    assert blue.status_code == 200, blue.text
    assert await credits(client) == 1  # one credit each, the colour costs nothing extra
    await run_jobs(resources)

    rows = {
        row.id: row.hair_color
        for row in await session.scalars(select(ImageRow).where(ImageRow.user_id.is_not(None)))
    }
    assert rows[kept["image_id"]] is None
    assert rows[blue.json()["image_id"]] == "ice-blue"
    kept_rgb = await output_rgb(client, kept["image_id"])
    blue_rgb = await output_rgb(client, blue.json()["image_id"])
    # Blue hair: the picture turns bluer than the kept one (blue up against red).
    shift = (blue_rgb[..., 2] - blue_rgb[..., 0]).mean() - (
        kept_rgb[..., 2] - kept_rgb[..., 0]
    ).mean()
    assert shift > 3
    assert np.abs(blue_rgb - kept_rgb).mean() > 2


async def test_an_unknown_colour_is_404_color_not_found_and_charges_nothing(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    response = await try_on(
        client,
        "k-colour",
        image_input_url=selfie["key"],
        style_id=await first_style_id(client),
        hair_color="plaid",
    )
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "COLOR_NOT_FOUND"
    assert await credits(client) == 3
    # The run's database also holds what end-to-end tests' live servers committed.
    assert (
        await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "k-colour")) is None
    )


async def test_a_failed_coloured_job_is_refunded_once(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    resources.settings = resources.settings.model_copy(update={"FACE_CHECK": False})
    await signed_up_and_verified(client, mail)
    faceless = await upload(client, jpeg((400, 300), "skyblue"))
    image_id = (
        await try_on(
            client,
            image_input_url=faceless["key"],
            style_id=await first_style_id(client),
            hair_color="copper",
        )
    ).json()["image_id"]
    assert await credits(client) == 2
    await run_jobs(resources)
    body = await status(client, image_id)
    assert body["status"] == "failed"
    assert await credits(client) == 3
    assert await ledger(session, image_id, "refund") == 1


async def test_a_coloured_request_replays_with_its_key_and_another_colour_is_a_reused_key(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    style_id = await first_style_id(client)
    body = {"image_input_url": selfie["key"], "style_id": style_id, "hair_color": "copper"}
    first = await try_on(client, "k-1", **body)
    again = await try_on(client, "k-1", **body)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert await credits(client) == 2

    other = await try_on(client, "k-1", **{**body, "hair_color": "auburn"})
    assert other.status_code == 422
    assert other.json()["detail"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    kept = await try_on(client, "k-1", **{**body, "hair_color": "keep"})
    assert kept.json()["detail"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await credits(client) == 2


async def test_keep_leaves_the_idempotency_hash_as_it_was_before_colours(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    style_id = await first_style_id(client)
    first = await try_on(client, "k-old", image_input_url=selfie["key"], style_id=style_id)
    explicit = await try_on(
        client, "k-old", image_input_url=selfie["key"], style_id=style_id, hair_color="keep"
    )
    assert explicit.status_code == 200
    assert explicit.json() == first.json()
    record = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "k-old"))
    assert record is not None
    assert record.request_hash == legacy_hash(selfie["key"], style_id)
    assert await credits(client) == 2
