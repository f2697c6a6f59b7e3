"""The S3 adapter's own promises, against moto's server over real HTTP."""

from __future__ import annotations

import base64
import json
import socket
import threading
import uuid
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from app.integrations.storage.port import ObjectNotFound, StorageError
from app.integrations.storage.s3 import S3Storage
from tests.integrations.storage.conftest import REGION, http_fetch, http_upload, s3_storage
from tests.integrations.storage.servers import S3Server

KEY = "uploads/user_7/0f3a9c.png"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_cdn_domain_gives_cdn_urls(moto_server: S3Server) -> None:
    for domain in ["cdn.example.com", "https://cdn.example.com/"]:
        storage = s3_storage(moto_server, "any-bucket", cdn_domain=domain)

        url = await storage.url_for("generated/user_7/a b.png")

        assert url == "https://cdn.example.com/generated/user_7/a%20b.png"
        storage.close()


async def test_urls_are_signed_for_the_public_endpoint(
    moto_server: S3Server, moto_storage: S3Storage
) -> None:
    # The backend reaches S3 at 127.0.0.1; browsers are told another host name for it.
    public = moto_server.endpoint_url.replace("127.0.0.1", "localhost")
    storage = s3_storage(moto_server, moto_storage.bucket, public_endpoint_url=public)
    await storage.put(KEY, b"png", "image/png")

    url = await storage.url_for(KEY)
    post = await storage.presigned_post("uploads/user_7/next.png", "image/png", max_bytes=10)

    assert urlsplit(url).hostname == "localhost"
    assert "X-Amz-Signature=" in url
    assert urlsplit(post.url).hostname == "localhost"
    assert await http_fetch(url) == b"png"
    assert await http_upload(post, b"next", "image/png") == 204
    assert await storage.get("uploads/user_7/next.png") == b"next"
    storage.close()


async def test_presigned_post_carries_sigv4_fields_and_exact_conditions(
    moto_storage: S3Storage,
) -> None:
    post = await moto_storage.presigned_post(KEY, "image/png", max_bytes=1000, expires_in=600)

    assert post.url.endswith(f"/{moto_storage.bucket}")
    assert post.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert {"x-amz-credential", "x-amz-date", "x-amz-signature", "policy"} <= set(post.fields)
    conditions = json.loads(base64.b64decode(post.fields["policy"]))["conditions"]
    assert {"key": KEY} in conditions
    assert {"bucket": moto_storage.bucket} in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert ["content-length-range", 1, 1000] in conditions


async def test_objects_are_written_private(moto_server: S3Server, moto_storage: S3Storage) -> None:
    await moto_storage.put(KEY, b"png", "image/png")
    client = boto3.client(
        "s3",
        endpoint_url=moto_server.endpoint_url,
        region_name=REGION,
        aws_access_key_id=moto_server.access_key_id,
        aws_secret_access_key=moto_server.secret_access_key,
        config=Config(s3={"addressing_style": "path"}),
    )

    grants = client.get_object_acl(Bucket=moto_storage.bucket, Key=KEY)["Grants"]

    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert grants[0]["Grantee"]["Type"] == "CanonicalUser"
    client.close()


async def test_unreachable_server_is_a_storage_error_not_a_missing_object() -> None:
    server = S3Server(f"http://127.0.0.1:{closed_port()}", "testing", "testing")
    storage = s3_storage(server, "hairtry")

    with pytest.raises(StorageError) as raised:
        await storage.get(KEY)
    with pytest.raises(StorageError):
        await storage.ping()

    assert not isinstance(raised.value, ObjectNotFound)
    storage.close()


async def test_a_server_that_hangs_up_is_tried_a_bounded_number_of_times() -> None:
    """Failing fast means a bounded number of attempts, counted at the socket rather than timed:
    botocore's standard mode makes 3, and a hung-up attempt may open a second connection (4
    were seen); an unbounded retry loop would blow far past the bound."""
    attempts = 0
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def hang_up() -> None:
        nonlocal attempts
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            attempts += 1
            connection.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    storage = s3_storage(S3Server(f"http://127.0.0.1:{port}", "testing", "testing"), "hairtry")
    try:
        with pytest.raises(StorageError) as raised:
            await storage.get(KEY)
    finally:
        stop.set()
        thread.join()
        listener.close()
        storage.close()

    assert not isinstance(raised.value, ObjectNotFound)
    assert 1 <= attempts <= 2 * 3


async def test_missing_bucket_fails_ping_and_reads(moto_server: S3Server) -> None:
    storage = s3_storage(moto_server, f"missing-{uuid.uuid4().hex[:12]}")

    with pytest.raises(StorageError):
        await storage.ping()
    with pytest.raises(StorageError) as raised:
        await storage.get(KEY)

    assert not isinstance(raised.value, ObjectNotFound)
    storage.close()


async def test_ensure_bucket_is_idempotent(moto_storage: S3Storage) -> None:
    await moto_storage.ensure_bucket()
    await moto_storage.ping()


async def test_url_lifetimes_beyond_sigv4_limit_are_refused(moto_storage: S3Storage) -> None:
    with pytest.raises(ValueError, match="expiry"):
        await moto_storage.url_for(KEY, expires_in=8 * 24 * 3600)
    with pytest.raises(ValueError, match="expiry"):
        await moto_storage.presigned_post(KEY, "image/png", max_bytes=10, expires_in=0)
