"""Object storage: the `Storage` port, the S3 adapter and the embedded local-folder adapter."""

from app.integrations.storage.port import (
    DEFAULT_URL_EXPIRY_S,
    InvalidKey,
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    PresignedPost,
    Storage,
    StorageError,
)

__all__ = [
    "DEFAULT_URL_EXPIRY_S",
    "InvalidKey",
    "ObjectExists",
    "ObjectInfo",
    "ObjectNotFound",
    "PresignedPost",
    "Storage",
    "StorageError",
]
