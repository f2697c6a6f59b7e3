from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from app.core.repository import Repository
from app.models import PhotoCheck
from app.photos.measurements import MEASURE_VERSION, PhotoMeasurements


class PhotoCheckRepository(Repository[PhotoCheck]):
    model = PhotoCheck

    async def current(self, upload_id: int) -> PhotoMeasurements | None:
        """The stored measurements of an upload, if they were made by this code's version."""
        return stored_measurements(
            await self.session.get(PhotoCheck, upload_id, populate_existing=True)
        )

    async def store(self, upload_id: int, found: PhotoMeasurements) -> None:
        """Replaces an older version's row; when another process stored the same upload's
        result at the same moment, theirs stands (the same photo measures the same)."""
        await self.session.execute(
            delete(PhotoCheck).where(
                PhotoCheck.upload_id == upload_id, PhotoCheck.version != MEASURE_VERSION
            )
        )
        try:
            async with self.session.begin_nested():
                self.session.add(
                    PhotoCheck(
                        upload_id=upload_id,
                        version=MEASURE_VERSION,
                        face_count=found.face_count,
                        brightness=found.brightness,
                        sharpness=found.sharpness,
                        face_share=found.face_share,
                        face_sharpness=found.face_sharpness,
                    )
                )
                await self.session.flush()
        except IntegrityError:
            pass


def stored_measurements(row: PhotoCheck | None) -> PhotoMeasurements | None:
    """The measurements of a stored row, if it was made by this code's version."""
    if row is None or row.version != MEASURE_VERSION:
        return None
    # Only the legacy rows (version 0) lack them.
    assert row.brightness is not None, "set by every current version"
    assert row.sharpness is not None, "set by every current version"
    return PhotoMeasurements(
        brightness=row.brightness,
        sharpness=row.sharpness,
        face_count=row.face_count,
        face_share=row.face_share,
        face_sharpness=row.face_sharpness,
    )
