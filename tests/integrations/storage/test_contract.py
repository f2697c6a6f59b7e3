"""The Storage contract, run against every adapter (see `backend` in conftest)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app.integrations.storage.port import InvalidKey, ObjectInfo, ObjectNotFound
from tests.integrations.storage.conftest import Backend

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
KEY = "uploads/user_7/0f3a9c.png"


async def test_put_then_get_head_exists_round_trip(backend: Backend) -> None:
    await backend.storage.put(KEY, PNG, "image/png")

    assert await backend.storage.get(KEY) == PNG
    assert await backend.storage.head(KEY) == ObjectInfo(size=len(PNG), content_type="image/png")
    assert await backend.storage.exists(KEY)


async def test_put_replaces_the_object(backend: Backend) -> None:
    await backend.storage.put(KEY, PNG, "image/png")
    await backend.storage.put(KEY, b"jpeg", "image/jpeg")

    assert await backend.storage.get(KEY) == b"jpeg"
    assert await backend.storage.head(KEY) == ObjectInfo(size=4, content_type="image/jpeg")


async def test_missing_object_is_not_found(backend: Backend) -> None:
    with pytest.raises(ObjectNotFound) as raised:
        await backend.storage.get("uploads/user_7/missing.png")

    assert raised.value.key == "uploads/user_7/missing.png"
    assert await backend.storage.head("uploads/user_7/missing.png") is None
    assert not await backend.storage.exists("uploads/user_7/missing.png")


async def test_a_folder_is_not_an_object(backend: Backend) -> None:
    await backend.storage.put(KEY, PNG, "image/png")

    assert await backend.storage.head("uploads/user_7") is None
    with pytest.raises(ObjectNotFound):
        await backend.storage.get("uploads/user_7")


async def test_delete_removes_the_object_and_is_idempotent(backend: Backend) -> None:
    await backend.storage.put(KEY, PNG, "image/png")

    await backend.storage.delete(KEY)
    await backend.storage.delete(KEY)
    await backend.storage.delete("never/existed.png")

    assert not await backend.storage.exists(KEY)
    with pytest.raises(ObjectNotFound):
        await backend.storage.get(KEY)


async def test_delete_prefix_removes_only_that_prefix(backend: Backend) -> None:
    doomed = ["users/1/a.png", "users/1/deep/b.png"]
    kept = ["users/10/c.png", "users/1x.png", "other/users/1/d.png", "users/2/e.png"]
    for key in doomed + kept:
        await backend.storage.put(key, key.encode(), "image/png")

    assert await backend.storage.delete_prefix("users/1/") == len(doomed)

    for key in doomed:
        assert not await backend.storage.exists(key), key
    for key in kept:
        assert await backend.storage.get(key) == key.encode(), key
    assert await backend.storage.delete_prefix("users/1/") == 0


async def test_delete_prefix_is_a_string_prefix_as_in_s3(backend: Backend) -> None:
    for key in ["users/1/a.png", "users/10/b.png", "users/2/c.png"]:
        await backend.storage.put(key, b"x", "image/png")

    assert await backend.storage.delete_prefix("users/1") == 2

    assert await backend.storage.exists("users/2/c.png")


async def test_delete_prefix_refuses_to_mean_everything(backend: Backend) -> None:
    with pytest.raises(InvalidKey):
        await backend.storage.delete_prefix("")


async def test_url_for_is_absolute_and_serves_the_bytes(backend: Backend) -> None:
    await backend.storage.put(KEY, PNG, "image/png")

    url = await backend.storage.url_for(KEY, expires_in=300)

    assert urlsplit(url).scheme in {"http", "https"}
    assert urlsplit(url).netloc
    assert await backend.fetch(url) == PNG


async def test_a_signed_url_cannot_be_pointed_at_another_object(
    enforcing_backend: Backend,
) -> None:
    storage = enforcing_backend.storage
    await storage.put(KEY, PNG, "image/png")
    await storage.put("uploads/user_8/other.png", b"theirs", "image/png")
    url = await storage.url_for(KEY, expires_in=300)

    forged = url.replace("user_7/0f3a9c.png", "user_8/other.png")

    assert forged != url
    assert await enforcing_backend.fetch(forged) is None


async def test_presigned_post_upload_stores_the_object(backend: Backend) -> None:
    post = await backend.storage.presigned_post(KEY, "image/png", max_bytes=len(PNG))

    assert post.fields["key"] == KEY
    assert post.fields["Content-Type"] == "image/png"
    assert post.fields["policy"]
    assert post.fields.get("signature") or post.fields.get("x-amz-signature")
    assert await backend.upload(post, PNG, "image/png") in {200, 201, 204}
    assert await backend.storage.get(KEY) == PNG
    assert await backend.storage.head(KEY) == ObjectInfo(size=len(PNG), content_type="image/png")


async def test_presigned_post_enforces_size_and_type(enforcing_backend: Backend) -> None:
    storage, upload = enforcing_backend.storage, enforcing_backend.upload
    post = await storage.presigned_post(KEY, "image/png", max_bytes=10)
    wrong_type = type(post)(post.url, {**post.fields, "Content-Type": "text/html"})

    assert await upload(post, b"x" * 11, "image/png") == 400  # EntityTooLarge
    assert await upload(post, b"", "image/png") == 400  # EntityTooSmall
    assert await upload(wrong_type, b"<script>", "text/html") == 403
    assert not await storage.exists(KEY)
    assert await upload(post, b"x" * 10, "image/png") in {200, 201, 204}
    assert await storage.get(KEY) == b"x" * 10


async def test_ping_passes_on_a_working_backend(backend: Backend) -> None:
    await backend.storage.ping()


PATH_LIKE_KEYS = [
    "../etc/passwd",
    "uploads/../../etc/passwd",
    "/etc/passwd",
    "uploads\\..\\secret",
    "uploads//a.png",
    "./a.png",
    "uploads/.a.png.meta.json",
    "uploads/",
    "uploads/a\x00.png",
    "",
]


async def test_path_like_keys_are_refused_everywhere(backend: Backend) -> None:
    storage = backend.storage
    for key in PATH_LIKE_KEYS:
        with pytest.raises(InvalidKey):
            await storage.put(key, b"x", "text/plain")
        with pytest.raises(InvalidKey):
            await storage.get(key)
        with pytest.raises(InvalidKey):
            await storage.head(key)
        with pytest.raises(InvalidKey):
            await storage.delete(key)
        with pytest.raises(InvalidKey):
            await storage.url_for(key)
        with pytest.raises(InvalidKey):
            await storage.presigned_post(key, "image/png", max_bytes=10)
