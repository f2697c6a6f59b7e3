"""The local adapter's own promises: signed, expiring media URLs, and files that never escape
the media root. Its POST policies are in test_local_policy.py."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from app.integrations.storage.local import LocalStorage
from app.integrations.storage.port import InvalidKey, ObjectExists, ObjectInfo, StorageError
from tests.integrations.storage.conftest import PUBLIC_BASE_URL, SIGNING_KEY, local_fetch

KEY = "uploads/user_7/0f3a9c.png"


def url_parts(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path, int(query["expires"][0]), query["sig"][0]


@pytest.fixture
def storage(local_storage: LocalStorage) -> LocalStorage:
    return local_storage


# --- signed media URLs ----------------------------------------------------------------------


async def test_media_url_is_signed_on_the_public_base_url(storage: LocalStorage) -> None:
    url = await storage.url_for(KEY, expires_in=60)

    path, expires, sig = url_parts(url)
    assert url.startswith(f"{PUBLIC_BASE_URL}/media/{KEY}?")
    assert path == f"/media/{KEY}"
    assert abs(expires - (time.time() + 60)) < 5
    assert storage.verify_url_signature(KEY, str(expires), sig, now=expires - 1)


async def test_media_url_stops_working_when_it_expires(storage: LocalStorage) -> None:
    _, expires, sig = url_parts(await storage.url_for(KEY, expires_in=60))

    assert not storage.verify_url_signature(KEY, str(expires), sig, now=expires)
    assert not storage.verify_url_signature(KEY, str(expires), sig, now=expires + 3600)


async def test_tampered_media_urls_are_refused(storage: LocalStorage) -> None:
    _, expires, sig = url_parts(await storage.url_for(KEY, expires_in=60))
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    other_signer = LocalStorage(storage.root, PUBLIC_BASE_URL, b"another-signing-key-0123456789")
    _, other_expires, other_sig = url_parts(await other_signer.url_for(KEY, expires_in=60))

    verify = storage.verify_url_signature
    assert not verify(KEY, str(expires), flipped)
    assert not verify(KEY, str(expires + 3600), sig)  # extended lifetime
    assert not verify("uploads/user_8/0f3a9c.png", str(expires), sig)  # someone else's image
    assert not verify(KEY, str(other_expires), other_sig)  # signed with another key
    assert not verify(KEY, str(expires), "")
    assert not verify(KEY, f" {expires}", sig)
    assert not verify(KEY, "not-a-number", sig)
    assert not verify("../etc/passwd", str(expires), sig)
    assert not verify(KEY, str(expires), sig + "é")


async def test_media_url_escapes_unusual_key_characters(storage: LocalStorage) -> None:
    key = "profilepic/user_7/me & you #1.png"
    await storage.put(key, b"img", "image/png")

    url = await storage.url_for(key)

    assert "/me%20%26%20you%20%231.png?" in url
    assert await local_fetch(storage)(url) == b"img"


# --- files on disk --------------------------------------------------------------------------


async def test_traversal_keys_write_nothing_outside_the_root(
    storage: LocalStorage, tmp_path: Path
) -> None:
    for key in ["../escaped.txt", "../../escaped.txt", "uploads/../../escaped.txt"]:
        with pytest.raises(InvalidKey):
            await storage.put(key, b"x", "text/plain")

    assert sorted(path.name for path in tmp_path.rglob("*")) == []


async def test_symlink_inside_the_root_cannot_lead_outside(
    storage: LocalStorage, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_text("secret")
    storage.root.mkdir()
    (storage.root / "uploads").symlink_to(elsewhere, target_is_directory=True)

    with pytest.raises(StorageError):
        await storage.get("uploads/secret.txt")
    with pytest.raises(StorageError):
        await storage.put("uploads/planted.png", b"x", "image/png")
    assert sorted(path.name for path in elsewhere.iterdir()) == ["secret.txt"]


async def test_writes_leave_only_the_object_and_hidden_metadata(storage: LocalStorage) -> None:
    await storage.put(KEY, b"one", "image/png")
    await storage.put(KEY, b"two", "image/png")

    folder = storage.path_for(KEY).parent
    assert sorted(path.name for path in folder.iterdir()) == [".0f3a9c.png.meta.json", "0f3a9c.png"]
    assert storage.path_for(KEY).read_bytes() == b"two"


async def test_concurrent_writes_to_one_key_leave_one_whole_object(storage: LocalStorage) -> None:
    versions = [bytes([n]) * 200_000 for n in range(20)]

    async with anyio.create_task_group() as group:
        for data in versions:
            group.start_soon(storage.put, KEY, data, "image/png")

    assert await storage.get(KEY) in versions
    assert not [p for p in storage.path_for(KEY).parent.iterdir() if p.name.startswith(".tmp")]


async def test_delete_prefix_prunes_emptied_folders(storage: LocalStorage) -> None:
    await storage.put("uploads/user_1/a/b.png", b"x", "image/png")
    await storage.put("uploads/user_2/c.png", b"x", "image/png")

    assert await storage.delete_prefix("uploads/user_1/") == 1

    assert not (storage.root / "uploads" / "user_1").exists()
    assert sorted(path.name for path in (storage.root / "uploads").iterdir()) == ["user_2"]


async def test_file_without_metadata_gets_an_image_type_from_its_extension_only(
    storage: LocalStorage,
) -> None:
    # UP-06: a name never makes a file servable as a page (`x.html` is not text/html); the
    # media route answers application/octet-stream for an object without a type.
    for name, content_type in (("copied.jpg", "image/jpeg"), ("copied.html", None)):
        path = storage.path_for(f"generated/{name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"data")
        assert await storage.head(f"generated/{name}") == ObjectInfo(4, content_type)


async def test_up06_put_once_refuses_a_second_write_to_a_key(storage: LocalStorage) -> None:
    await storage.put_once("uploads/user_1/a.jpg", b"first", "image/jpeg")

    with pytest.raises(ObjectExists):
        await storage.put_once("uploads/user_1/a.jpg", b"second", "text/html")

    assert await storage.get("uploads/user_1/a.jpg") == b"first"
    assert await storage.head("uploads/user_1/a.jpg") == ObjectInfo(5, "image/jpeg")
    # Our own writes (the checked copy) still replace it; a deleted key is free again.
    await storage.put("uploads/user_1/a.jpg", b"clean", "image/jpeg")
    await storage.delete("uploads/user_1/a.jpg")
    await storage.put_once("uploads/user_1/a.jpg", b"again", "image/jpeg")


async def test_up06_concurrent_first_writes_to_a_key_let_exactly_one_in(
    storage: LocalStorage,
) -> None:
    outcomes: list[bytes] = []

    async def write(data: bytes) -> None:
        try:
            await storage.put_once("uploads/user_1/race.jpg", data, "image/jpeg")
        except ObjectExists:
            return
        outcomes.append(data)

    async with anyio.create_task_group() as tasks:
        for index in range(8):
            tasks.start_soon(write, bytes([index]) * 10)

    assert len(outcomes) == 1
    assert await storage.get("uploads/user_1/race.jpg") == outcomes[0]


async def test_a_file_in_the_way_of_a_folder_is_a_storage_error(storage: LocalStorage) -> None:
    await storage.put("uploads/a", b"x", "image/png")

    with pytest.raises(StorageError):
        await storage.put("uploads/a/b.png", b"x", "image/png")
    assert await storage.head("uploads/a/b.png") is None


async def test_ping_creates_the_root_and_fails_when_it_is_unusable(tmp_path: Path) -> None:
    fresh = LocalStorage(tmp_path / "new" / "media", PUBLIC_BASE_URL, SIGNING_KEY)
    await fresh.ping()
    assert fresh.root.is_dir()

    (tmp_path / "file").write_text("not a folder")
    blocked = LocalStorage(tmp_path / "file", PUBLIC_BASE_URL, SIGNING_KEY)
    with pytest.raises(StorageError):
        await blocked.ping()


async def test_bad_arguments_are_refused(storage: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="signing_key"):
        LocalStorage(tmp_path, PUBLIC_BASE_URL, b"short")
    with pytest.raises(ValueError, match="content type"):
        await storage.put(KEY, b"x", "image/png\r\nX-Injected: 1")
    with pytest.raises(ValueError, match="max_bytes"):
        await storage.presigned_post(KEY, "image/png", max_bytes=0)
    with pytest.raises(ValueError, match="expires_in"):
        await storage.url_for(KEY, expires_in=0)
