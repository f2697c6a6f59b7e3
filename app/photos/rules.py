"""Judging stored measurements against the settings: the thresholds can change without any
photo being measured again."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.config import Settings
from app.photos.exceptions import (
    FaceTooSmall,
    MultipleFaces,
    NoFaceDetected,
    PhotoRejected,
    PhotoTooBlurry,
    PhotoTooDark,
)
from app.photos.measurements import PhotoMeasurements


@dataclass(frozen=True, slots=True)
class PhotoThresholds:
    min_face_share: float
    min_brightness: float
    min_sharpness: float

    @classmethod
    def from_settings(cls, settings: Settings) -> PhotoThresholds:
        return cls(
            min_face_share=settings.PHOTO_MIN_FACE_SHARE,
            min_brightness=settings.PHOTO_MIN_BRIGHTNESS,
            min_sharpness=settings.PHOTO_MIN_SHARPNESS,
        )


def first_problem(
    found: PhotoMeasurements, limits: PhotoThresholds, *, needs_face: bool
) -> PhotoRejected | None:
    """The one reason to give, or None when the photo will do.

    Order: darkness first (in a dark frame no face can be found, and light is what the person
    can fix), then the face checks, then sharpness, judged on the face when there is one (a
    sharp face on a plain or soft background is a good photo). A photo that needs no face
    (a haircut reference) is only checked for light and sharpness.
    """
    if found.brightness < limits.min_brightness:
        return PhotoTooDark()
    if needs_face:
        if found.face_count == 0:
            return NoFaceDetected()
        if found.face_count > 1:
            return MultipleFaces()
        if found.face_share is None or found.face_share < limits.min_face_share:
            return FaceTooSmall()
    sharpness = found.face_sharpness if found.face_sharpness is not None else found.sharpness
    if sharpness < limits.min_sharpness:
        return PhotoTooBlurry()
    return None
