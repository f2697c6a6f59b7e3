"""Fair photo checks before charging (SPEC §4a): each refusal is a 422 with a code and advice,
taken before any debit; GET /files/check answers the same without generating; the result is
measured once per upload (when it is accepted) and read from `photo_checks` afterwards."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CreditLedgerEntry, Image, PhotoCheck, Upload
from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.generation.steps import first_style_id, generate, portrait, upload
from tests.photos.crafted import black_frame, blurred_portrait, faceless, tiny_face, two_faces


async def _me(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/v1/user/me")).json()["id"])


async def _ledger_rows(session: AsyncSession, client: httpx.AsyncClient) -> int:
    user_id = await _me(client)
    found = await session.scalar(
        select(func.count())
        .select_from(CreditLedgerEntry)
        .where(CreditLedgerEntry.user_id == user_id)
    )
    return int(found or 0)


async def _images(session: AsyncSession, client: httpx.AsyncClient) -> int:
    """The caller's images (other tests commit images of their own users)."""
    user_id = await _me(client)
    found = await session.scalar(
        select(func.count()).select_from(Image).where(Image.user_id == user_id)
    )
    return int(found or 0)


async def _check_row(session: AsyncSession, key: str) -> PhotoCheck | None:
    upload_id = await session.scalar(select(Upload.id).where(Upload.key == key))
    assert upload_id is not None
    session.expire_all()
    return await session.get(PhotoCheck, upload_id)


async def _check(client: httpx.AsyncClient, key: str, **params: str) -> httpx.Response:
    return await client.get("/api/v1/files/check", params={"key": key, **params})


REFUSALS: list[tuple[Callable[[], bytes], str, str]] = [
    (faceless, "NO_FACE_DETECTED", "face"),
    (two_faces, "MULTIPLE_FACES", "only you"),
    (tiny_face, "FACE_TOO_SMALL", "closer"),
    (black_frame, "PHOTO_TOO_DARK", "light"),
    (blurred_portrait, "PHOTO_TOO_BLURRY", "steady"),
]


@pytest.mark.parametrize(("photo", "code", "advice"), REFUSALS, ids=[r[1] for r in REFUSALS])
async def test_a_photo_that_fails_a_check_is_refused_before_any_debit(
    client: httpx.AsyncClient,
    mail: Mail,
    session: AsyncSession,
    photo: Callable[[], bytes],
    code: str,
    advice: str,
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client, photo())
    ledger_before = await _ledger_rows(session, client)

    response = await generate(client, selfie["file_url"], await first_style_id(client))

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["code"] == code
    # The message tells the person what to do, not only what is wrong.
    assert advice in detail["message"].lower()
    assert int((await client.get("/api/v1/user/credits")).json()) == 3
    assert await _ledger_rows(session, client) == ledger_before
    assert await _images(session, client) == 0


async def test_the_fixture_portrait_passes_every_check_and_generates(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)

    check = await _check(client, selfie["key"])
    assert check.status_code == 200, check.text
    assert check.json() == {"ok": True, "code": None, "message": None}
    response = await generate(client, selfie["file_url"], await first_style_id(client))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("photo", "code", "advice"), REFUSALS, ids=[r[1] for r in REFUSALS])
async def test_the_check_endpoint_tells_the_same_reason_without_generating(
    client: httpx.AsyncClient,
    mail: Mail,
    session: AsyncSession,
    photo: Callable[[], bytes],
    code: str,
    advice: str,
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client, photo())

    response = await _check(client, selfie["key"])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["code"] == code
    assert advice in body["message"].lower()
    assert int((await client.get("/api/v1/user/credits")).json()) == 3
    assert await _images(session, client) == 0


async def test_a_reference_photo_needs_no_face_but_must_be_lit_and_sharp(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    pair, dark = await upload(client, two_faces()), await upload(client, black_frame())
    blurred = await upload(client, blurred_portrait())

    # Two faces would refuse a selfie; a haircut reference may show anyone.
    assert (await _check(client, pair["key"], purpose="reference")).json()["ok"] is True
    assert (await _check(client, dark["key"], purpose="reference")).json()["code"] == (
        "PHOTO_TOO_DARK"
    )
    assert (await _check(client, blurred["key"], purpose="reference")).json()["code"] == (
        "PHOTO_TOO_BLURRY"
    )


async def test_someone_elses_key_answers_like_a_missing_one(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    theirs = await upload(client)
    client.cookies.clear()
    await signed_up_and_verified(client, mail)

    foreign = await _check(client, theirs["key"])
    missing = await _check(client, "uploads/user_999999/nothing.jpg")

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert foreign.json()["detail"]["code"] == "IMAGE_NOT_FOUND"


async def test_the_check_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    response = await _check(client, "uploads/user_1/abc.jpg")
    assert response.status_code in (400, 401)


async def test_an_accepted_upload_is_checked_in_the_background(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    await resources.database.background.drain()

    row = await _check_row(session, selfie["key"])

    assert row is not None
    assert row.face_count == 1
    assert row.brightness is not None
    assert row.brightness > 30


async def test_a_second_check_reads_the_stored_result_instead_of_measuring_again(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    assert (await _check(client, selfie["key"])).json()["ok"] is True
    row = await _check_row(session, selfie["key"])
    assert row is not None
    # Make the stored measurement say "dark": only an answer read from the row can see it.
    async with resources.database.unit_of_work() as writer:
        await writer.execute(
            update(PhotoCheck).where(PhotoCheck.upload_id == row.upload_id).values(brightness=1.0)
        )

    second = await _check(client, selfie["key"])
    refused = await generate(client, selfie["file_url"], await first_style_id(client))

    # Measuring the photo again would have found it well lit.
    assert second.json()["code"] == "PHOTO_TOO_DARK"
    assert refused.json()["detail"]["code"] == "PHOTO_TOO_DARK"


async def test_generation_measures_an_upload_whose_result_is_missing(
    client: httpx.AsyncClient, mail: Mail, session: AsyncSession, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client, portrait())
    await resources.database.background.drain()
    row = await _check_row(session, selfie["key"])
    assert row is not None
    async with resources.database.unit_of_work() as writer:
        await writer.execute(delete(PhotoCheck).where(PhotoCheck.upload_id == row.upload_id))

    response = await generate(client, selfie["file_url"], await first_style_id(client))

    assert response.status_code == 200, response.text
    assert await _check_row(session, selfie["key"]) is not None


async def test_thresholds_are_settings_applied_to_the_stored_measurements(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    assert (await _check(client, selfie["key"])).json()["ok"] is True

    resources.settings = resources.settings.model_copy(update={"PHOTO_MIN_FACE_SHARE": 0.5})

    assert (await _check(client, selfie["key"])).json()["code"] == "FACE_TOO_SMALL"


async def test_face_check_off_lets_any_photo_through(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    resources.settings = resources.settings.model_copy(update={"FACE_CHECK": False})
    await signed_up_and_verified(client, mail)
    dark = await upload(client, black_frame())

    assert (await _check(client, dark["key"])).json()["ok"] is True
    response = await generate(client, dark["file_url"], await first_style_id(client))
    assert response.status_code == 200, response.text


async def _presigned_post(client: httpx.AsyncClient, data: bytes | None) -> str:
    """A browser upload through a presigned form (posted only when `data` is given)."""
    presigned = (
        await client.get("/api/v1/files/presign", params={"file_type": "image/jpeg"})
    ).json()
    if data is not None:
        posted = await client.post(
            httpx.URL(presigned["upload_url"]).path,
            data=presigned["fields"],
            files={"file": ("selfie.jpg", data, "image/jpeg")},
        )
        assert posted.status_code == 204, posted.text
    return str(presigned["key"])


async def test_a_presigned_upload_is_taken_in_and_checked_on_its_first_check(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    dark = await _presigned_post(client, black_frame())
    never_posted = await _presigned_post(client, None)
    not_an_image = await _presigned_post(client, b"<html><script>x</script></html>")

    assert (await _check(client, dark)).json()["code"] == "PHOTO_TOO_DARK"
    assert (await _check(client, never_posted)).json()["detail"]["code"] == "IMAGE_NOT_FOUND"
    refused = await _check(client, not_an_image)
    assert refused.status_code == 415
    assert refused.json()["detail"]["code"] == "UNSUPPORTED_IMAGE_TYPE"
