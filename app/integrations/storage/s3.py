"""The S3 (and S3-compatible) storage backend over boto3.

boto3 is blocking, so every call that talks to the network runs in a worker thread under a
limiter sized like boto3's connection pool (more threads would only queue for a connection).
Presigning is pure local HMAC work on credentials we hold, so it runs inline.

Objects are written without an ACL and stay private: clients get presigned URLs, or CDN URLs
when the CDN reads the bucket with its own identity (e.g. CloudFront origin access control).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote

import anyio
import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.integrations.storage.keys import check_content_type, check_key, check_prefix
from app.integrations.storage.port import (
    DEFAULT_URL_EXPIRY_S,
    ObjectInfo,
    ObjectNotFound,
    PresignedPost,
    StorageError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

T = TypeVar("T")

MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600  # SigV4's limit; S3 refuses longer ones when used
_MAX_CONNECTIONS = 20
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_ALREADY_OWNED_CODES = frozenset({"BucketAlreadyOwnedByYou"})


class S3Storage:
    def __init__(
        self,
        bucket: str,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        cdn_domain: str | None = None,
        url_expiry_s: int = DEFAULT_URL_EXPIRY_S,
    ) -> None:
        self._bucket = bucket
        self._region = region
        self._cdn_base = _cdn_base(cdn_domain) if cdn_domain else None
        self._url_expiry_s = _check_expiry(url_expiry_s)
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        config = _client_config(is_custom_endpoint=endpoint_url is not None)
        self._client: S3Client = session.client("s3", endpoint_url=endpoint_url, config=config)
        # Presigned URLs carry the host they were signed for: browsers and Replicate may reach
        # storage under another name than the backend does (docker service name vs localhost,
        # private VPC endpoint vs public host), so sign them with a client on that name.
        self._presigner: S3Client = (
            session.client("s3", endpoint_url=public_endpoint_url, config=config)
            if public_endpoint_url
            else self._client
        )
        self._limiter = anyio.CapacityLimiter(_MAX_CONNECTIONS)

    @property
    def bucket(self) -> str:
        return self._bucket

    def close(self) -> None:
        """Release pooled connections (at shutdown)."""
        self._client.close()
        if self._presigner is not self._client:
            self._presigner.close()

    # --- the Storage port ---------------------------------------------------------------

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        check_key(key)
        check_content_type(content_type)
        await self._call(
            lambda: self._client.put_object(
                Bucket=self._bucket, Key=key, Body=data, ContentType=content_type
            )
        )

    async def get(self, key: str) -> bytes:
        check_key(key)

        def read() -> bytes:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
            try:
                return body.read()
            finally:
                body.close()

        return await self._call(read, missing_key=key)

    async def delete(self, key: str) -> None:
        check_key(key)
        # S3 answers 204 for a missing key too, which makes this idempotent.
        await self._call(lambda: self._client.delete_object(Bucket=self._bucket, Key=key))

    async def delete_prefix(self, prefix: str) -> int:
        check_prefix(prefix)
        return await self._call(lambda: self._delete_prefix(prefix))

    async def exists(self, key: str) -> bool:
        return await self.head(key) is not None

    async def head(self, key: str) -> ObjectInfo | None:
        check_key(key)
        try:
            response = await self._call(
                lambda: self._client.head_object(Bucket=self._bucket, Key=key), missing_key=key
            )
        except ObjectNotFound:
            return None
        return ObjectInfo(size=response["ContentLength"], content_type=response.get("ContentType"))

    async def presigned_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int = DEFAULT_URL_EXPIRY_S
    ) -> PresignedPost:
        check_key(key)
        check_content_type(content_type)
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        # boto3 adds the exact bucket and key conditions itself.
        post = self._presigner.generate_presigned_post(
            self._bucket,
            key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=_check_expiry(expires_in),
        )
        fields = {name: str(value) for name, value in post["fields"].items()}
        return PresignedPost(url=str(post["url"]), fields=fields)

    async def url_for(self, key: str, expires_in: int | None = None) -> str:
        check_key(key)
        if self._cdn_base is not None:
            return f"{self._cdn_base}/{quote(key, safe='/')}"
        return self._presigner.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": key},
            ExpiresIn=_check_expiry(self._url_expiry_s if expires_in is None else expires_in),
        )

    async def ping(self) -> None:
        await self._call(lambda: self._client.head_bucket(Bucket=self._bucket))

    # --- dev and test helpers -----------------------------------------------------------

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (development servers and tests)."""

        def create() -> None:
            # us-east-1 is the one region S3 refuses as an explicit location constraint.
            if self._region == "us-east-1":
                self._client.create_bucket(Bucket=self._bucket)
            else:
                location = cast("BucketLocationConstraintType", self._region)
                self._client.create_bucket(
                    Bucket=self._bucket,
                    CreateBucketConfiguration={"LocationConstraint": location},
                )

        try:
            await self._call(create)
        except StorageError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, ClientError) and _error_code(cause) in _ALREADY_OWNED_CODES):
                raise

    # --- plumbing -----------------------------------------------------------------------

    async def _call(self, func: Callable[[], T], *, missing_key: str | None = None) -> T:
        """Run a blocking boto3 call in a thread; vendor errors become ours."""
        try:
            return await anyio.to_thread.run_sync(func, limiter=self._limiter)
        except ClientError as exc:
            code = _error_code(exc)
            if missing_key is not None and code in _NOT_FOUND_CODES:
                raise ObjectNotFound(missing_key) from exc
            raise StorageError(f"S3 refused the request: {code}: {exc}") from exc
        except BotoCoreError as exc:  # connection refused, timeouts, bad endpoint, ...
            raise StorageError(f"S3 is unreachable: {exc}") from exc

    def _delete_prefix(self, prefix: str) -> int:
        removed = 0
        paginator = self._client.get_paginator("list_objects_v2")
        # Pages hold at most 1000 keys, exactly what one DeleteObjects call accepts.
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            objects: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]} for item in page.get("Contents", [])
            ]
            if not objects:
                continue
            response = self._client.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": objects, "Quiet": True},
            )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise StorageError(
                    f"could not delete {len(errors)} objects under {prefix!r}, "
                    f"e.g. {first.get('Key')!r}: {first.get('Code')}"
                )
            removed += len(objects)
        return removed


def _client_config(*, is_custom_endpoint: bool) -> Config:
    options: dict[str, Any] = {
        # Without s3v4 boto3 still signs presigned URLs with SigV2 (external-apis.md §6.1).
        "signature_version": "s3v4",
        "retries": {"mode": "standard", "max_attempts": 3},
        "connect_timeout": 5,
        "read_timeout": 30,
        "max_pool_connections": _MAX_CONNECTIONS,
    }
    if is_custom_endpoint:
        # Virtual-host style would put the bucket in the host name (`hairtry.localhost`),
        # which S3-compatible servers on a plain host:port cannot answer.
        options["s3"] = {"addressing_style": "path"}
        # boto3 >= 1.36 adds CRC checksums to every upload by default; several S3-compatible
        # servers reject or mis-store those. Send them only where the API requires one.
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    return Config(**options)


def _cdn_base(cdn_domain: str) -> str:
    # Operators write the domain bare (`cdn.example.com`, as the seed service did) or as a URL.
    base = cdn_domain.strip().rstrip("/")
    return base if "://" in base else f"https://{base}"


def _check_expiry(seconds: int) -> int:
    if not 0 < seconds <= MAX_PRESIGN_EXPIRY_S:
        raise ValueError(f"expiry must be within 1..{MAX_PRESIGN_EXPIRY_S} s, not {seconds}")
    return seconds


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))
