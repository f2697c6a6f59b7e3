"""What the checks measure in a photo; synchronous CPU work, run in a worker thread.

Every number is made independent of the photo's resolution, so one threshold fits a 512 px
fixture and a 12 MP phone photo alike:

- `brightness`: mean luminance (0-255, ITU-R BT.601) of the whole frame.
- faces: found on a copy whose longer side is at most 1024 px, down to 3% of its shorter side
  (smaller than the smallest face we accept, so a too-small face is found and named as such
  instead of "no face"). Only faces at least half as wide as the largest count: a bystander
  far behind the person is no reason to refuse, and the generator works on the largest face.
  The search scans the large windows first and stops when the small ones can no longer change
  the answer (`face_search`): the faces of a full scan, in a fraction of its time for a photo
  with one large face.
- `face_share`: the largest face's width over the photo's shorter side.
- `face_sharpness`: variance of the Laplacian of the largest face resized to 64x64 px. Judged
  on the face, not the frame, so a plain or softly blurred background is never "blurry".
- `sharpness`: the same over the whole frame resized to a longer side of 256 px, for photos
  that need no face (a haircut reference).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy.typing as npt

from app.integrations.generator.codec import decode_rgb
from app.integrations.generator.faces import FaceBox
from app.photos.face_search import COMPARABLE_FACE, search_faces
from app.photos.measurements import PhotoMeasurements

# One thread per call: OpenCV's own pool threads are created by the first thread that needs
# them and inherit its priority, so a pool first used by the low-priority background lane
# (app/photos/meter.py) would run every later caller's parallel work at that priority. With two
# cores and a worker process per core, OpenCV's parallelism saved no wall time (a 12 MP selfie:
# 272-332 ms either way).
cv2.setNumThreads(1)

# A grey image as OpenCV hands it back (its dtype is not in OpenCV's stubs).
Grey = npt.NDArray[Any]

_DETECT_SIDE = 1024
_MIN_FACE_FRACTION = 0.03
_MIN_FACE_PX = 24
_FACE_SIDE = 64
_FRAME_SIDE = 256


def measure_photo(data: bytes, max_pixels: int) -> PhotoMeasurements:
    """Raises `TooManyPixels` / `UndecodableImage` (from the decode) for bytes that are not a
    usable image."""
    grey = cv2.cvtColor(decode_rgb(data, _DETECT_SIDE, max_pixels), cv2.COLOR_RGB2GRAY)
    shorter = min(grey.shape)
    faces = search_faces(grey, max(_MIN_FACE_PX, round(_MIN_FACE_FRACTION * shorter)))
    largest = faces[0] if faces else None
    comparable = [f for f in faces if largest and f.w >= COMPARABLE_FACE * largest.w]
    return PhotoMeasurements(
        brightness=round(float(grey.mean()), 2),
        sharpness=round(_laplacian_variance(_fit(grey, _FRAME_SIDE)), 2),
        face_count=len(comparable),
        face_share=round(largest.w / shorter, 4) if largest else None,
        face_sharpness=round(_face_sharpness(grey, largest), 2) if largest else None,
    )


def _face_sharpness(grey: Grey, face: FaceBox) -> float:
    crop = grey[face.y : face.y + face.h, face.x : face.x + face.w]
    shrink = face.w >= _FACE_SIDE
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return _laplacian_variance(
        cv2.resize(crop, (_FACE_SIDE, _FACE_SIDE), interpolation=interpolation)
    )


def _fit(grey: Grey, side: int) -> Grey:
    scale = side / max(grey.shape)
    if scale >= 1.0:
        return grey
    return cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _laplacian_variance(grey: Grey) -> float:
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
