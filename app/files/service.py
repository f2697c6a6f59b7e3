"""Uploads: presigned browser uploads, direct uploads, profile pictures, and checking an
upload before it is used. Every image goes through `app.files.intake` before we rely on it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from app.core.config import Settings
from app.core.db import release
from app.files.exceptions import ImageNotFound, UnsupportedImageType
from app.files.intake import ImagePolicy, ProcessedImage, process_image_async
from app.files.keys import EXTENSIONS, user_key
from app.files.repository import UploadRepository
from app.integrations.storage import ObjectNotFound, Storage
from app.models import Upload, UploadStatus, User

logger = logging.getLogger(__name__)

PRESIGN_EXPIRES_S = 3600


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    url: str


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    upload_url: str
    fields: dict[str, str]
    key: str
    file_url: str


class FileService:
    def __init__(
        self,
        uploads: UploadRepository,
        storage: Storage,
        policy: ImagePolicy,
        settings: Settings,
        on_accepted: Callable[[Upload], None] | None = None,
    ) -> None:
        self.uploads = uploads
        self.storage = storage
        self.policy = policy
        self.settings = settings
        # Told of every upload that passed intake (the photo checks measure it in the
        # background once this unit of work commits).
        self.on_accepted = on_accepted

    async def presign(self, user: User, file_type: str) -> PresignedUpload:
        content_type = file_type.strip().lower()
        if content_type not in self.policy.allowed_types or content_type not in EXTENSIONS:
            raise UnsupportedImageType()
        key = user_key(self.settings.UPLOADS_FOLDER, user.id, content_type)
        post = await self.storage.presigned_post(
            key, content_type, self.policy.max_bytes, expires_in=PRESIGN_EXPIRES_S
        )
        await self.uploads.add(
            Upload(
                user_id=user.id,
                key=key,
                presigned_key=key,
                status=UploadStatus.PENDING,
                content_type=content_type,
            )
        )
        return PresignedUpload(
            upload_url=post.url,
            fields=post.fields,
            key=key,
            file_url=await self.storage.url_for(key),
        )

    async def upload(self, user: User, data: bytes) -> StoredFile:
        """A direct upload: checked, stripped of metadata, stored under a new key."""
        image = await process_image_async(data, self.policy)
        key = user_key(self.settings.UPLOADS_FOLDER, user.id, image.content_type)
        await self.storage.put(key, image.data, image.content_type)
        self._accepted(await self.uploads.add(_ready_upload(user.id, key, image)))
        return StoredFile(key=key, url=await self.storage.url_for(key))

    async def store_profile_picture(self, user: User, data: bytes) -> str:
        image = await process_image_async(data, self.policy)
        key = user_key(self.settings.PROFILE_PICS_FOLDER, user.id, image.content_type)
        await self.storage.put(key, image.data, image.content_type)
        return key

    async def ensure_checked(self, user_id: int, key: str) -> Upload:
        """The caller's own upload at `key`, through image intake if it came in presigned.

        Presigned uploads go straight from the browser to storage, and their form can post
        again until it expires (S3 cannot make it single-use). The first use reads the posted
        bytes, runs the same checks as a direct upload and stores the clean copy under a new
        server-named key: from then on only that copy is used (UP-06). The posted object is
        replaced by the clean copy too, so the form's `file_url` keeps showing the photo
        without its metadata (GPS).
        """
        upload = await self.uploads.get_by_key(key)
        if upload is None or upload.user_id != user_id:
            raise ImageNotFound()
        if upload.status == UploadStatus.READY:
            return upload
        # Download, decode and re-encode with no transaction open (DB-01).
        await release(self.uploads.session)
        posted_key = upload.presigned_key or upload.key
        try:
            raw = await self.storage.get(posted_key)
        except ObjectNotFound:
            raise ImageNotFound("The upload has not arrived in storage yet.") from None
        image = await process_image_async(raw, self.policy)
        checked_key = user_key(self.settings.UPLOADS_FOLDER, user_id, image.content_type)
        await self.storage.put(checked_key, image.data, image.content_type)
        await self.storage.put(posted_key, image.data, image.content_type)
        won = await self.uploads.mark_ready(
            upload.id,
            key=checked_key,
            content_type=image.content_type,
            size=len(image.data),
            width=image.width,
            height=image.height,
        )
        if not won:
            # A concurrent first use checked it already: keep one copy, theirs.
            await self.storage.delete(checked_key)
        await self.uploads.session.refresh(upload)
        if won:
            self._accepted(upload)
        return upload

    def _accepted(self, upload: Upload) -> None:
        if self.on_accepted is not None:
            self.on_accepted(upload)

    async def url_for(self, key: str) -> str:
        return await self.storage.url_for(key)


def _ready_upload(user_id: int, key: str, image: ProcessedImage) -> Upload:
    return Upload(
        user_id=user_id,
        key=key,
        status=UploadStatus.READY,
        content_type=image.content_type,
        size=len(image.data),
        width=image.width,
        height=image.height,
    )
