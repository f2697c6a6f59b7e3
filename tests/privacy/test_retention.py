"""A person's retention window (SPEC §4a): their uploads and results older than it are deleted,
objects and rows, by a purge that runs by itself; never a profile picture."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.main import create_app
from app.privacy.purge import RetentionPurger
from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.conftest import build_test_resources
from tests.files.images import jpeg
from tests.generation.steps import upload
from tests.generation.test_reference_photo import red_haircut
from tests.privacy.steps import (
    age,
    completed_image,
    image_ids,
    image_row,
    upload_keys,
    user_by_email,
)


async def test_the_retention_window_is_read_set_and_cleared(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    assert (await client.get("/api/v1/user/privacy")).json() == {"retention_days": None}
    response = await client.put("/api/v1/user/privacy", json={"retention_days": 30})
    assert response.status_code == 200, response.text
    assert response.json() == {"retention_days": 30}
    assert (await client.get("/api/v1/user/privacy")).json() == {"retention_days": 30}
    for bad in ({"retention_days": 0}, {"retention_days": 366}, {}, {"retention_days": "x"}):
        assert (await client.put("/api/v1/user/privacy", json=bad)).status_code == 422, bad
    cleared = await client.put("/api/v1/user/privacy", json={"retention_days": None})
    assert cleared.json() == {"retention_days": None}


async def test_retention_deletes_exactly_the_old_files_and_rows_and_never_a_profile_picture(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    storage = resources.storage
    # Someone without a window: nothing of theirs goes, however old.
    bystander_email = await signed_up_and_verified(client, mail)
    bystander_image = await completed_image(client, resources)
    await age(session, days=400, image_id=bystander_image)
    client.cookies.clear()

    email = await signed_up_and_verified(client, mail)
    await client.put("/api/v1/user/privacy", json={"retention_days": 30})
    old_image = await completed_image(client, resources)
    new_image = await completed_image(client, resources)
    old_unused = (await upload(client))["key"]
    old_avatar = (await upload(client))["key"]
    picture = await client.post(
        "/api/v1/user/profile/picture", files={"file": ("me.jpg", jpeg(), "image/jpeg")}
    )
    assert picture.status_code == 200, picture.text
    user = await user_by_email(session, email)
    stored_picture = user.userpic
    assert stored_picture is not None
    # The picture changes to one of the uploads: the stored one stays a profile picture too.
    profile = await client.put("/api/v1/user/profile", json={"userpic_key": old_avatar})
    assert profile.status_code == 200, profile.text
    old = await image_row(session, old_image)
    new = await image_row(session, new_image)
    assert old.output_key is not None
    assert new.output_key is not None
    await age(session, days=31, image_id=old_image, upload_key=old.input_key)
    await age(session, days=31, upload_key=old_unused)
    await age(session, days=31, upload_key=old_avatar)
    before_uploads = await upload_keys(session, user.id)

    purger = RetentionPurger.from_settings(resources.settings, resources.database, storage)
    assert await purger.purge_once()

    assert await image_ids(session, user.id) == {new_image}
    assert await upload_keys(session, user.id) == before_uploads - {old.input_key, old_unused}
    for gone in (old.output_key, old.input_key, old_unused):
        assert not await storage.exists(gone), gone
    for kept in (new.output_key, new.input_key, old_avatar, stored_picture):
        assert await storage.exists(kept), kept
    bystander = await user_by_email(session, bystander_email)
    assert await image_ids(session, bystander.id) == {bystander_image}
    assert (await client.get("/api/v1/user/me")).status_code == 200


async def test_an_upload_stays_while_an_image_made_from_it_is_inside_the_window(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    email = await signed_up_and_verified(client, mail)
    await client.put("/api/v1/user/privacy", json={"retention_days": 7})
    image_id = await completed_image(client, resources)
    image = await image_row(session, image_id)
    await age(session, days=30, upload_key=image.input_key)

    purger = RetentionPurger.from_settings(
        resources.settings, resources.database, resources.storage
    )
    await purger.purge_once()

    user = await user_by_email(session, email)
    assert image.input_key in await upload_keys(session, user.id)
    assert await resources.storage.exists(image.input_key)


async def test_the_periodic_purge_runs_by_itself_with_both_windows(
    client: httpx.AsyncClient,
    mail: Mail,
    resources: Resources,
    session: AsyncSession,
    settings: Settings,
) -> None:
    """No command: the app's own loop applies a person's window and UPLOAD_RETENTION_DAYS."""
    await signed_up_and_verified(client, mail)
    stale = (await upload(client))["key"]
    await age(session, days=100, upload_key=stale)
    client.cookies.clear()
    email = await signed_up_and_verified(client, mail)
    await client.put("/api/v1/user/privacy", json={"retention_days": 1})
    image_id = await completed_image(client, resources)
    await age(session, days=2, image_id=image_id)

    # The first pass runs at start; the long interval keeps the loop asleep afterwards, so it
    # is stopped between passes, never mid-query on the test's shared connection.
    configured = settings.model_copy(
        update={"RETENTION_PURGE_INTERVAL_S": 3600, "UPLOAD_RETENTION_DAYS": 90}
    )
    built = build_test_resources(configured, resources.database)
    built.purge_retention = True
    app = create_app(configured, resources=built)
    async with app.router.lifespan_context(app):
        assert built.purger is not None
        await asyncio.wait_for(built.purger.wait_for_passes(1), timeout=60)
        await built.stop_background()

    user = await user_by_email(session, email)
    assert await image_ids(session, user.id) == set()
    assert not await resources.storage.exists(stale)


async def test_interval_zero_turns_the_purge_off(resources: Resources, settings: Settings) -> None:
    configured = settings.model_copy(update={"RETENTION_PURGE_INTERVAL_S": 0})
    built = build_test_resources(configured, resources.database)
    built.purge_retention = True
    app = create_app(configured, resources=built)
    async with app.router.lifespan_context(app):
        assert built.purger is None


async def test_a_haircut_reference_stays_while_its_image_is_inside_the_window(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    """The person's window spares the reference photo of an image it keeps, as it spares the
    selfie: the history would otherwise lose what was tried."""
    email = await signed_up_and_verified(client, mail)
    await client.put("/api/v1/user/privacy", json={"retention_days": 7})
    selfie = await upload(client)
    cut = await upload(client, red_haircut())
    response = await client.post(
        "/api/v1/image/generate",
        json={"image_input_url": selfie["file_url"], "reference_image_url": cut["file_url"]},
    )
    assert response.status_code == 200, response.text
    image = await image_row(session, int(response.json()["image_id"]))
    assert image.reference_key is not None
    await age(session, days=30, upload_key=image.reference_key)

    purger = RetentionPurger.from_settings(
        resources.settings, resources.database, resources.storage
    )
    await purger.purge_once()

    user = await user_by_email(session, email)
    assert image.reference_key in await upload_keys(session, user.id)
    assert await resources.storage.exists(image.reference_key)
