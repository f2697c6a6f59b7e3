"""DELETE /user/images (SPEC §4a): every image and upload of the person at once, objects too;
the profile picture and everyone else's files stay."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.generation.steps import path_of, upload
from tests.privacy.steps import completed_image, image_ids, image_row, upload_keys, user_by_email


async def test_delete_all_removes_every_image_and_upload_but_the_profile_picture(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    storage = resources.storage
    other_email = await signed_up_and_verified(client, mail)
    other_image = await completed_image(client, resources)
    client.cookies.clear()

    email = await signed_up_and_verified(client, mail)
    first, second = (
        await completed_image(client, resources),
        await completed_image(client, resources),
    )
    shared = (
        await client.post(f"/api/v1/image/{first}/share", json={"expires_in_hours": 1})
    ).json()
    unused = (await upload(client))["key"]
    avatar = (await upload(client))["key"]
    assert (
        await client.put("/api/v1/user/profile", json={"userpic_key": avatar})
    ).status_code == 200
    rows = [await image_row(session, image_id) for image_id in (first, second)]
    objects = [key for row in rows for key in (row.output_key, row.input_key) if key] + [unused]
    user = await user_by_email(session, email)
    uploads_before = await upload_keys(session, user.id)

    response = await client.delete("/api/v1/user/images")

    assert response.status_code == 200, response.text
    assert response.json() == {"images_deleted": 2, "uploads_deleted": len(uploads_before) - 1}
    await resources.database.background.drain()
    assert await image_ids(session, user.id) == set()
    assert await upload_keys(session, user.id) == {avatar}
    for key in objects:
        assert not await storage.exists(key), key
    assert await storage.exists(avatar)
    assert (await client.get(path_of(shared["url"]))).status_code == 404
    page = (await client.get("/api/v1/user/images")).json()
    assert page["total_images"] == 0
    assert (await client.get("/api/v1/user/me")).json()["userpic"] is not None

    other = await user_by_email(session, other_email)
    assert await image_ids(session, other.id) == {other_image}
    other_output = (await image_row(session, other_image)).output_key
    assert other_output is not None
    assert await storage.exists(other_output)
