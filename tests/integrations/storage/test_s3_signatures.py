"""Our presigned URLs and POST policies against a server that enforces them like S3 does
(SeaweedFS `weed mini`; moto accepts anything). Skipped when the `weed` binary is missing."""

from __future__ import annotations

import anyio
import httpx
import pytest

from app.integrations.storage.port import PresignedPost
from app.integrations.storage.s3 import S3Storage

pytestmark = pytest.mark.slow

KEY = "uploads/user_7/0f3a9c.png"


async def post_form(post: PresignedPost, data: bytes, content_type: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(
            post.url, data=post.fields, files={"file": ("photo.png", data, content_type)}
        )


def s3_error_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith(("application/xml", "text/xml"))
    return response.text.split("<Code>", 1)[1].split("</Code>", 1)[0]


async def test_presigned_post_refuses_wrong_type_and_oversize_files(
    seaweedfs_storage: S3Storage,
) -> None:
    post = await seaweedfs_storage.presigned_post(KEY, "image/png", max_bytes=16)
    as_html = PresignedPost(post.url, {**post.fields, "Content-Type": "text/html"})
    elsewhere = PresignedPost(post.url, {**post.fields, "key": "uploads/user_8/theirs.png"})

    wrong_type = await post_form(as_html, b"<script>", "text/html")
    oversize = await post_form(post, b"x" * 17, "image/png")
    other_key = await post_form(elsewhere, b"x", "image/png")

    assert (wrong_type.status_code, s3_error_code(wrong_type)) == (403, "AccessDenied")
    assert (oversize.status_code, s3_error_code(oversize)) == (400, "EntityTooLarge")
    assert other_key.status_code == 403
    assert not await seaweedfs_storage.exists(KEY)
    assert not await seaweedfs_storage.exists("uploads/user_8/theirs.png")
    # The same form within its terms goes through: the refusals were the policy's doing.
    assert (await post_form(post, b"x" * 16, "image/png")).status_code == 204
    assert await seaweedfs_storage.get(KEY) == b"x" * 16


async def test_presigned_get_is_refused_once_expired(seaweedfs_storage: S3Storage) -> None:
    await seaweedfs_storage.put(KEY, b"png", "image/png")
    # SigV4 dates have whole-second precision: a 1 s URL can be expired before it is first
    # used on a loaded machine, so give it 3 s and wait past them.
    url = await seaweedfs_storage.url_for(KEY, expires_in=3)

    async with httpx.AsyncClient(timeout=10) as client:
        fresh = await client.get(url)
        await anyio.sleep(4.2)
        expired = await client.get(url)

    assert (fresh.status_code, fresh.content) == (200, b"png")
    assert (expired.status_code, s3_error_code(expired)) == (403, "AccessDenied")
    assert "expired" in expired.text


async def test_objects_are_private_without_a_signature(seaweedfs_storage: S3Storage) -> None:
    await seaweedfs_storage.put(KEY, b"png", "image/png")
    url = await seaweedfs_storage.url_for(KEY)
    unsigned = url.split("?", 1)[0]

    async with httpx.AsyncClient(timeout=10) as client:
        anonymous = await client.get(unsigned)
        tampered = await client.get(url.replace("X-Amz-Expires=3600", "X-Amz-Expires=604800"))

    assert anonymous.status_code == 403
    assert tampered.status_code == 403
