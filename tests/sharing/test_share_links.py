"""Share links (SPEC §4a): a public before/after page that shows the pair and nothing else of
the account, expires, is revoked, and dies with the image and with the account."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
from datetime import UTC, datetime, timedelta

import httpx
from PIL import Image as PILImage
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.files.intake import IMAGE_WORK
from app.models import Image, ShareLink
from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.generation.steps import first_style_id, generate, path_of, run_jobs, upload


async def _completed_image(client: httpx.AsyncClient, resources: Resources) -> int:
    selfie = await upload(client)
    response = await generate(client, selfie["file_url"], await first_style_id(client))
    assert response.status_code == 200, response.text
    await run_jobs(resources)
    return int(response.json()["image_id"])


async def _share(client: httpx.AsyncClient, image_id: int, hours: int = 24) -> dict[str, str]:
    response = await client.post(
        f"/api/v1/image/{image_id}/share", json={"expires_in_hours": hours}
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def _anonymous(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The hairdresser: no cookies, no session."""
    return httpx.AsyncClient(transport=client._transport, base_url=client.base_url)


async def _page(client: httpx.AsyncClient, url: str) -> httpx.Response:
    async with _anonymous(client) as anonymous:
        return await anonymous.get(path_of(url))


async def _picture(client: httpx.AsyncClient, url: str, which: str) -> httpx.Response:
    async with _anonymous(client) as anonymous:
        return await anonymous.get(f"{path_of(url)}/{which}")


async def test_share_page_shows_the_pair_and_nothing_else_of_the_account(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    email = await signed_up_and_verified(client, mail)
    image_id = await _completed_image(client, resources)
    shared = await _share(client, image_id, hours=48)
    expires_at = datetime.fromisoformat(shared["expires_at"])
    assert timedelta(hours=47) < expires_at - datetime.now(UTC) <= timedelta(hours=48)

    page = await _page(client, shared["url"])

    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "script-src" not in page.headers["content-security-policy"]
    html = page.text
    assert "<script" not in html
    image = await session.scalar(select(Image).where(Image.id == image_id))
    assert image is not None
    assert image.output_key is not None
    for secret in (
        email,
        "Ada Lovelace",
        f"user_{image.user_id}",
        image.input_key,
        image.output_key,
        "/media/",
        "credits",
    ):
        assert secret not in html, secret
    token = shared["url"].rsplit("/", 1)[1]
    # The page's text and attributes, without its stylesheet's numbers and its own token.
    without_token = re.sub(r"<style>.*?</style>", "", html, flags=re.S).replace(token, "TOKEN")
    for number in (image_id, image.user_id):
        # A standalone number (not the viewport's "scale=1,").
        assert not re.search(rf"(?<![\w.=-]){number}(?![\w.,%-])", without_token), number
    assert image.style_name in html
    og_image = re.search(r'<meta property="og:image" content="([^"]+)"', html)
    assert og_image
    assert og_image.group(1).startswith(("http://", "https://"))
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == 2

    async with _anonymous(client) as anonymous:
        before, after = [await anonymous.get(src) for src in sources]
        preview = await anonymous.get(path_of(og_image.group(1)))
    assert before.content == await resources.storage.get(image.input_key)
    assert after.content == await resources.storage.get(image.output_key)
    assert preview.headers["content-type"] == "image/jpeg"
    with PILImage.open(io.BytesIO(preview.content)) as small:
        assert small.height <= 400, "a small preview"


async def test_token_is_random_and_stored_only_as_its_sha256(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    image_id = await _completed_image(client, resources)
    token = (await _share(client, image_id))["url"].rsplit("/", 1)[1]
    assert len(token) >= 43
    link = await session.scalar(select(ShareLink).where(ShareLink.image_id == image_id))
    assert link is not None
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in link.token_hash
    other = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert (await _page(client, f"http://testserver/s/{other}")).status_code == 404


async def test_an_expired_link_shows_nothing(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    image_id = await _completed_image(client, resources)
    shared = await _share(client, image_id, hours=1)
    assert (await _page(client, shared["url"])).status_code == 200

    await session.execute(
        update(ShareLink)
        .where(ShareLink.image_id == image_id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await session.flush()

    gone = await _page(client, shared["url"])
    assert gone.status_code == 404
    assert "not available" in gone.text
    for which in ("before", "after", "preview"):
        response = await _picture(client, shared["url"], which)
        assert response.status_code == 404
        assert response.json()["detail"]["code"] == "SHARE_NOT_FOUND"


async def test_a_revoked_link_shows_nothing_and_sharing_again_retires_the_old_link(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    image_id = await _completed_image(client, resources)
    first = await _share(client, image_id)
    second = await _share(client, image_id)
    assert first["url"] != second["url"]
    assert (await _page(client, first["url"])).status_code == 404
    assert (await _page(client, second["url"])).status_code == 200

    revoked = await client.delete(f"/api/v1/image/{image_id}/share")
    assert revoked.status_code == 204
    assert (await _page(client, second["url"])).status_code == 404
    assert (await _picture(client, second["url"], "after")).status_code == 404
    assert (await client.delete(f"/api/v1/image/{image_id}/share")).status_code == 204


async def test_the_link_dies_with_the_image(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    image_id = await _completed_image(client, resources)
    shared = await _share(client, image_id)
    assert (await client.delete(f"/api/v1/image/{image_id}")).status_code == 204
    assert (await _page(client, shared["url"])).status_code == 404
    assert await session.scalar(select(ShareLink).where(ShareLink.image_id == image_id)) is None


async def test_the_link_dies_with_the_account(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    image_id = await _completed_image(client, resources)
    shared = await _share(client, image_id)
    assert (await client.delete("/api/v1/user/me")).status_code == 204
    assert (await _page(client, shared["url"])).status_code == 404
    assert await session.scalar(select(ShareLink).where(ShareLink.image_id == image_id)) is None


async def test_an_unfinished_image_cannot_be_shared_and_hours_are_bounded(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    started = await generate(client, selfie["file_url"], await first_style_id(client))
    image_id = started.json()["image_id"]
    response = await client.post(f"/api/v1/image/{image_id}/share", json={"expires_in_hours": 1})
    assert response.status_code == 409
    assert response.json()["detail"]["code"] == "IMAGE_NOT_READY"
    await run_jobs(resources)
    for hours in (0, 721):
        response = await client.post(
            f"/api/v1/image/{image_id}/share", json={"expires_in_hours": hours}
        )
        assert response.status_code == 422, hours


async def test_a_share_token_is_never_written_to_the_logs(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    """The token is the whole credential of the page (anyone holding it sees the person's
    selfie): a log line with it would open the page to whoever reads the logs."""
    await signed_up_and_verified(client, mail)
    image_id = await _completed_image(client, resources)
    shared = await _share(client, image_id)
    token = shared["url"].rsplit("/", 1)[1]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    # The test's own client logs what it asks for; the server is what must keep quiet.
    handler.addFilter(lambda record: record.name != "httpx")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        assert (await _page(client, shared["url"])).status_code == 200
        for which in ("before", "after", "preview"):
            assert (await _picture(client, shared["url"], which)).status_code == 200
        assert (await _page(client, shared["url"] + "x")).status_code == 404
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    logged = stream.getvalue()
    assert "/s/" in logged, "the access log is not captured"
    assert token not in logged


async def test_someone_elses_image_answers_like_a_missing_one_and_its_link_survives(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    image_id = await _completed_image(client, resources)
    shared = await _share(client, image_id)
    client.cookies.clear()
    await signed_up_and_verified(client, mail)

    for method in ("POST", "DELETE"):
        theirs = await client.request(
            method, f"/api/v1/image/{image_id}/share", json={"expires_in_hours": 1}
        )
        missing = await client.request(
            method, f"/api/v1/image/{image_id + 10_000}/share", json={"expires_in_hours": 1}
        )
        assert theirs.status_code == missing.status_code == 404, method
        assert theirs.json() == missing.json()
        assert theirs.json()["detail"]["code"] == "IMAGE_NOT_FOUND"
    assert (await _page(client, shared["url"])).status_code == 200


async def test_the_preview_is_drawn_one_image_at_a_time_with_the_other_image_work(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    """The preview decodes two full pictures for anyone holding a public link: it queues on
    the process's image-work limiter (as intake does), so a burst of previews can neither
    take every core nor hold many decoded pictures in memory at once."""
    await signed_up_and_verified(client, mail)
    image_id = await _completed_image(client, resources)
    shared = await _share(client, image_id)
    holder = object()
    await IMAGE_WORK.acquire_on_behalf_of(holder)
    try:
        preview = asyncio.create_task(_picture(client, shared["url"], "preview"))

        async def queued() -> None:
            while IMAGE_WORK.statistics().tasks_waiting == 0:
                assert not preview.done(), "the preview was drawn beside other image work"
                await asyncio.sleep(0.01)

        await asyncio.wait_for(queued(), timeout=30)
    finally:
        IMAGE_WORK.release_on_behalf_of(holder)
    response = await preview
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
