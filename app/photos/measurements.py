"""What a photo check measured, as stored per upload (`photo_checks`) and judged by the rules.

Kept apart from `measure.py`, which needs NumPy and OpenCV (~40 MB): an API process imports
these numbers at startup and loads the image stack only when it first measures a photo.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bumped when a measurement changes meaning: stored results of older versions are measured again.
MEASURE_VERSION = 1


@dataclass(frozen=True, slots=True)
class PhotoMeasurements:
    brightness: float
    sharpness: float
    face_count: int
    face_share: float | None
    face_sharpness: float | None
