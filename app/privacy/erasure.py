"""Deleting a person's images and uploads, objects and rows, batch by batch.

Objects first, then rows: a crash leaves rows whose objects are gone (deleting a missing object
is harmless, and the next pass finishes the job), never objects nobody can find. Images go
before uploads, so the inputs they used are free to go in the same pass.

No transaction is open while objects are deleted (DB-01): each batch is read in one short unit,
its objects deleted with none open (one or more storage calls per file), and its rows deleted
in a second short unit that checks again that they may go (an image started meanwhile, an
upload put in use meanwhile, keeps its row). On SQLite a unit holding the write lock across
storage calls would stall every other writer; on PostgreSQL it would hold a pool connection.

Profile pictures are never touched: an upload in use as one is kept, and the pictures stored
under PROFILE_PICS_FOLDER are not uploads at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from app.core.db import Database
from app.generation.result_keys import ResultKeys
from app.integrations.storage import Storage
from app.models import Image, Upload
from app.privacy.repository import PrivacyRepository

BATCH = 100


class _Row(Protocol):
    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=_Row)


@dataclass(frozen=True, slots=True)
class Erased:
    images: int = 0
    uploads: int = 0

    def __add__(self, other: Erased) -> Erased:
        return Erased(self.images + other.images, self.uploads + other.uploads)


class Eraser:
    def __init__(self, database: Database, storage: Storage, result_keys: ResultKeys) -> None:
        self.database = database
        self.storage = storage
        self.result_keys = result_keys

    async def erase(self, user_id: int, *, created_before: datetime | None = None) -> Erased:
        """The person's finished images and unused uploads (older than `created_before`, if
        given): their objects, then their rows."""
        images = await self._in_batches(
            lambda repo, after: repo.finished_images(
                user_id, BATCH, created_before=created_before, after_id=after
            ),
            self._remove_image_objects,
            lambda repo, ids: repo.delete_finished_images(ids),
        )
        uploads = await self._in_batches(
            lambda repo, after: repo.unused_uploads(
                user_id, BATCH, created_before=created_before, after_id=after
            ),
            self._remove_upload_objects,
            lambda repo, ids: repo.delete_unused_uploads(user_id, ids),
        )
        return Erased(images, uploads)

    async def _in_batches(
        self,
        read: Callable[[PrivacyRepository, int], Awaitable[Sequence[R]]],
        remove_objects: Callable[[R], Awaitable[None]],
        delete_rows: Callable[[PrivacyRepository, list[int]], Awaitable[int]],
    ) -> int:
        """Batch by batch in id order: read in one short unit, delete the objects with none
        open, delete the rows (checked again) in a second short unit. Rows deleted."""
        deleted = 0
        after = 0
        while True:
            async with self.database.unit_of_work(write=False) as session:
                batch = await read(PrivacyRepository(session), after)
            for row in batch:
                await remove_objects(row)
            if batch:
                async with self.database.unit_of_work() as session:
                    deleted += await delete_rows(
                        PrivacyRepository(session), [row.id for row in batch]
                    )
                after = batch[-1].id
            if len(batch) < BATCH:
                return deleted

    async def _remove_image_objects(self, image: Image) -> None:
        for key in (
            image.output_key,
            image.right_view_key,
            image.left_view_key,
            image.back_view_key,
        ):
            if key:
                await self.storage.delete(key)
        # The image's folder also holds what a crashed attempt stored unrecorded.
        await self.storage.delete_prefix(self.result_keys.folder_of(image.user_id, image.id))

    async def _remove_upload_objects(self, upload: Upload) -> None:
        await self.storage.delete(upload.key)
        if upload.presigned_key and upload.presigned_key != upload.key:
            await self.storage.delete(upload.presigned_key)
