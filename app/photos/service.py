"""The photo checks as the rest of the app uses them: `require` before a charge, `check_upload`
for GET /files/check. Measurements come from `photo_checks` (written in the background when the
upload was accepted); only when they are missing are they made now, with no transaction open."""

from __future__ import annotations

from app.core.config import Settings
from app.core.db import checkpoint, release
from app.files.exceptions import ImageNotFound
from app.files.service import FileService
from app.integrations.storage import ObjectNotFound, Storage
from app.models import Upload
from app.photos.exceptions import PhotoRejected
from app.photos.measurements import PhotoMeasurements
from app.photos.meter import PhotoMeter
from app.photos.repository import PhotoCheckRepository
from app.photos.rules import PhotoThresholds, first_problem


class PhotoCheckService:
    def __init__(
        self,
        checks: PhotoCheckRepository,
        files: FileService,
        storage: Storage,
        meter: PhotoMeter,
        settings: Settings,
    ) -> None:
        self.checks = checks
        self.files = files
        self.storage = storage
        self.meter = meter
        self.settings = settings

    async def require(
        self,
        upload: Upload,
        *,
        needs_face: bool = True,
        stored: PhotoMeasurements | None = None,
    ) -> None:
        """Raises the first check the photo fails (a 422 `PhotoRejected`), before any credit
        is taken. `needs_face=False` for a photo that is not of the person (a haircut
        reference): then only light and sharpness are checked. `stored`: the upload's current
        measurements when the caller read them with the upload; None reads (or makes) them."""
        problem = await self.problem(upload, needs_face=needs_face, stored=stored)
        if problem is not None:
            raise problem

    async def problem(
        self, upload: Upload, *, needs_face: bool, stored: PhotoMeasurements | None = None
    ) -> PhotoRejected | None:
        if not self.settings.FACE_CHECK:
            return None
        found = stored if stored is not None else await self.measurements(upload)
        return first_problem(
            found, PhotoThresholds.from_settings(self.settings), needs_face=needs_face
        )

    async def check_upload(
        self, user_id: int, key: str, *, needs_face: bool
    ) -> PhotoRejected | None:
        """The caller's own upload at `key` (someone else's answers like a missing one)."""
        upload = await self.files.ensure_checked(user_id, key)
        # Keep the intake's work (a presigned upload made ready) before measuring.
        await checkpoint(self.checks.session)
        return await self.problem(upload, needs_face=needs_face)

    async def measurements(self, upload: Upload) -> PhotoMeasurements:
        stored = await self.checks.current(upload.id)
        if stored is not None:
            return stored
        # The measurement is CPU work in a thread: no transaction open meanwhile (DB-01), and
        # its result is kept whatever the request does next.
        await release(self.checks.session)
        found = await self.meter.measure(upload.id, lambda: self._read(upload.key))
        await self.checks.store(upload.id, found)
        await checkpoint(self.checks.session)
        return found

    async def _read(self, key: str) -> bytes:
        try:
            return await self.storage.get(key)
        except ObjectNotFound:
            raise ImageNotFound() from None
