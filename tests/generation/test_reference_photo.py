"""A haircut from a photo (SPEC §4a) through the API on the local generator: the reference is
the caller's own upload (same intake and ownership check as the selfie, no face needed), costs
and refunds like a style, replays with its key, and shows as "Haircut from a photo"."""

from __future__ import annotations

import httpx
import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.generation.router import GENERATE_EXAMPLES
from app.generation.schemas import GenerateRequest
from app.generation.service import REFERENCE_DESCRIPTION, REFERENCE_NAME
from app.models import Image as ImageRow
from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.files.images import jpeg
from tests.generation.steps import first_style_id, run_jobs, upload
from tests.generation.try_on import credits, ledger, output_rgb, status, try_on
from tests.integrations.generator.images import encode


def red_haircut() -> bytes:
    """A faceless close-up of straight red hair: fine vertical strands, sharp enough to pass
    the photo checks (a reference is checked for light and sharpness, not for a face)."""
    xx = np.mgrid[:240, :240][1].astype(np.float32)
    shade = 1 + 0.35 * np.sin(xx * 1.9) * np.sin(xx * 0.37)
    return encode(
        np.clip(np.array([190, 40, 40])[None, None, :] * shade[..., None], 0, 255).astype(np.uint8)
    )


async def _selfie_and_reference(
    client: httpx.AsyncClient, mail: Mail
) -> tuple[dict[str, str], dict[str, str]]:
    await signed_up_and_verified(client, mail)
    return await upload(client), await upload(client, red_haircut())


async def test_a_haircut_from_a_photo_costs_one_credit_and_takes_the_references_hair(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    selfie, reference = await _selfie_and_reference(client, mail)
    started = await try_on(
        client, image_input_url=selfie["file_url"], reference_image_url=reference["file_url"]
    )
    assert started.status_code == 200, started.text
    image_id = started.json()["image_id"]
    styled = await try_on(
        client, image_input_url=selfie["key"], style_id=await first_style_id(client)
    )
    assert await credits(client) == 1
    await run_jobs(resources)

    row = await session.scalar(select(ImageRow).where(ImageRow.id == image_id))
    assert row is not None
    assert (row.style_id, row.reference_key, row.hair_color) == (None, reference["key"], None)
    body = await status(client, image_id)
    assert (body["status"], body["description"]) == ("completed", REFERENCE_DESCRIPTION)
    history = (await client.get("/api/v1/user/images")).json()["images"]
    assert REFERENCE_NAME in {item["style_name"] for item in history}
    from_photo = await output_rgb(client, image_id)
    from_style = await output_rgb(client, styled.json()["image_id"])
    # The reference's red: the picture is redder (red against green) than the styled one.
    redness = (from_photo[..., 0] - from_photo[..., 1]).mean()
    assert redness - (from_style[..., 0] - from_style[..., 1]).mean() > 3


async def test_a_haircut_from_a_photo_gets_side_views(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    resources.settings = resources.settings.model_copy(update={"FREE_USER_CREDITS": 4})
    selfie, reference = await _selfie_and_reference(client, mail)
    image_id = (
        await try_on(client, image_input_url=selfie["key"], reference_image_url=reference["key"])
    ).json()["image_id"]
    await run_jobs(resources)
    views = await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    assert views.status_code == 200, views.text
    await run_jobs(resources)
    body = await status(client, image_id)
    assert (body["status"], body["views_status"]) == ("completed", "completed")


async def test_exactly_one_of_style_and_reference_is_a_422_list_and_charges_nothing(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    selfie, reference = await _selfie_and_reference(client, mail)
    style_id = await first_style_id(client)
    for body in (
        {"image_input_url": selfie["key"]},
        {
            "image_input_url": selfie["key"],
            "style_id": style_id,
            "reference_image_url": reference["key"],
        },
    ):
        response = await try_on(client, **body)
        assert response.status_code == 422, body
        assert isinstance(response.json()["detail"], list)
    assert await credits(client) == 3


async def test_a_reference_must_be_your_own_upload(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    theirs = await upload(client, red_haircut())
    client.cookies.clear()
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    for reference in (theirs["key"], theirs["file_url"], "https://evil.example/haircut.jpg"):
        response = await try_on(
            client, image_input_url=selfie["key"], reference_image_url=reference
        )
        assert response.status_code == 403, reference
        assert response.json()["detail"]["code"] == "FOREIGN_IMAGE"
    assert await credits(client) == 3


async def test_a_url_that_cannot_be_parsed_is_foreign_not_a_500(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    selfie, _reference = await _selfie_and_reference(client, mail)
    for broken in ("http://[::1", "https://[bad/x.jpg", "http://localhost:8000]/media/x.jpg"):
        as_reference = await try_on(
            client, image_input_url=selfie["key"], reference_image_url=broken
        )
        as_selfie = await try_on(client, image_input_url=broken, style_id=1)
        for response in (as_reference, as_selfie):
            assert response.status_code == 403, (broken, response.text)
            assert response.json()["detail"]["code"] == "FOREIGN_IMAGE"
    assert await credits(client) == 3


async def test_a_reference_goes_through_image_intake(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    # Stored under the caller's uploads but never checked (as a presigned POST leaves it).
    key = f"uploads/user_{(await client.get('/api/v1/user/me')).json()['id']}/raw.jpg"
    await resources.storage.put(key, b"not an image at all", "image/jpeg")
    response = await try_on(client, image_input_url=selfie["key"], reference_image_url=key)
    assert response.status_code in {403, 422}
    assert response.json()["detail"]["code"] in {"FOREIGN_IMAGE", "INVALID_IMAGE"}
    assert await credits(client) == 3


async def test_a_failed_haircut_from_a_photo_is_refunded_once(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    resources.settings = resources.settings.model_copy(update={"FACE_CHECK": False})
    await signed_up_and_verified(client, mail)
    faceless = await upload(client, jpeg((400, 300), "skyblue"))
    reference = await upload(client, red_haircut())
    image_id = (
        await try_on(client, image_input_url=faceless["key"], reference_image_url=reference["key"])
    ).json()["image_id"]
    assert await credits(client) == 2
    await run_jobs(resources)
    body = await status(client, image_id)
    assert body["status"] == "failed"
    assert await credits(client) == 3
    assert await ledger(session, image_id, "refund") == 1


async def test_a_haircut_from_a_photo_replays_with_its_key_and_not_with_other_fields(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    selfie, reference = await _selfie_and_reference(client, mail)
    other = await upload(client, red_haircut()[:-2] + b"\xff\xd9")
    body = {"image_input_url": selfie["key"], "reference_image_url": reference["key"]}
    first = await try_on(client, "k-ref", **body)
    again = await try_on(client, "k-ref", **body)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    for changed in (
        {**body, "reference_image_url": other["key"]},
        {**body, "hair_color": "keep"},
        {"image_input_url": selfie["key"], "style_id": await first_style_id(client)},
    ):
        reused = await try_on(client, "k-ref", **changed)
        assert reused.status_code == 422, changed
        assert reused.json()["detail"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await credits(client) == 2


def test_every_documented_generate_example_is_a_request_the_api_accepts() -> None:
    assert {"style", "style_in_a_colour", "from_a_photo"} <= set(GENERATE_EXAMPLES)
    for example in GENERATE_EXAMPLES.values():
        GenerateRequest.model_validate(example["value"])


async def test_a_dark_or_blurry_reference_is_refused_before_charging(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    """A haircut photo needs no face, but it must show the hair: a black frame or a featureless
    blur is refused with the photo check's code, and nothing is charged."""
    selfie, _ = await _selfie_and_reference(client, mail)
    before = await credits(client)
    for picture, code in (
        (jpeg((400, 400), "black"), "PHOTO_TOO_DARK"),
        (jpeg((400, 400), "peru"), "PHOTO_TOO_BLURRY"),
    ):
        reference = await upload(client, picture)
        refused = await try_on(
            client, image_input_url=selfie["key"], reference_image_url=reference["key"]
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"]["code"] == code
    assert await credits(client) == before
