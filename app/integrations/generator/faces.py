"""Frontal face detection with OpenCV's bundled Haar cascade.

Why one classifier per thread: `detectMultiScale` stores the image it is scanning inside the
classifier (its feature evaluator's integral images), so two threads sharing one classifier
can read each other's data. OpenCV promises no thread safety here. A lock would serialise
every detection; a `threading.local` classifier costs one parse of the XML (~10 ms) per worker
thread, once, and lets detections run side by side if the generator's limiter is widened.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import cv2
import cv2.data
import numpy as np
import numpy.typing as npt

_CASCADE_PATH = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
# Detection runs on a grey copy whose longer side is at most this: enough for faces down to
# ~8% of the image in ~30 ms; much smaller and the cascade starts seeing faces in clothing.
_DETECT_SIDE = 480
_MIN_FACE_FRACTION = 0.08
_SCALE_FACTOR = 1.1
_MIN_NEIGHBOURS = 5
CONFIDENT_SHARE = 0.3
# OpenCV's own grouping tolerance inside `detectMultiScale` (GROUP_EPS in cascadedetect.cpp).
GROUP_EPS = 0.2

_local = threading.local()


@dataclass(frozen=True, slots=True)
class FaceBox:
    x: int
    y: int
    w: int
    h: int

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def scaled(self, factor: float) -> FaceBox:
        return FaceBox(*(round(v * factor) for v in (self.x, self.y, self.w, self.h)))

    def shifted(self, dx: int, dy: int) -> FaceBox:
        return FaceBox(self.x + dx, self.y + dy, self.w, self.h)


def _classifier() -> cv2.CascadeClassifier:
    classifier: cv2.CascadeClassifier | None = getattr(_local, "classifier", None)
    if classifier is None:
        classifier = cv2.CascadeClassifier(_CASCADE_PATH)
        if classifier.empty():
            raise RuntimeError(f"cannot load the face cascade from {_CASCADE_PATH}")
        _local.classifier = classifier
    return classifier


def find_face(rgb: npt.NDArray[np.uint8]) -> FaceBox | None:
    """The largest confident frontal face in an RGB image, in its pixel coordinates, or None."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, _DETECT_SIDE / max(grey.shape))
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # No histogram equalisation: the cascade already normalises each window by its contrast,
    # and equalising made it see a face in the folds of clothing.
    min_side = max(24, round(_MIN_FACE_FRACTION * min(grey.shape)))
    confident = find_faces(grey, min_side)
    if not confident:
        return None
    return confident[0].scaled(1 / scale)


def find_faces(grey: npt.NDArray[Any], min_side: int) -> list[FaceBox]:
    """The confident frontal faces of a grey image at least `min_side` pixels wide, largest
    first (ties broken by position, so the order never depends on the cascade's)."""
    boxes, votes = _classifier().detectMultiScale2(
        grey,
        scaleFactor=_SCALE_FACTOR,
        minNeighbors=_MIN_NEIGHBOURS,
        minSize=(min_side, min_side),
    )
    return confident_faces(boxes, votes)


def window_sides(max_side: int) -> list[int]:
    """The widths of the cascade's square search window, smallest first, as
    `detectMultiScale` steps through them (24 px times 1.1 to the k, rounded) up to
    `max_side`."""
    width, _ = _classifier().getOriginalWindowSize()
    sides: list[int] = []
    factor = 1.0
    while (side := round(width * factor)) <= max_side:
        sides.append(side)
        factor *= _SCALE_FACTOR
    return sides


def raw_windows(grey: npt.NDArray[Any], side: int) -> list[tuple[int, int, int, int]]:
    """Every window of width `side` that the cascade accepts, before any grouping: one scale
    of the scan `find_faces` makes (each scale is scanned on its own resize of `grey`, so
    the windows of one scale do not depend on which other scales are scanned)."""
    found = _classifier().detectMultiScale(
        grey, scaleFactor=_SCALE_FACTOR, minNeighbors=0, minSize=(side, side), maxSize=(side, side)
    )
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]


def group_windows(windows: list[tuple[int, int, int, int]]) -> list[tuple[FaceBox, int]]:
    """The confident faces the windows of some scales make, with their votes, largest first,
    grouped as `detectMultiScale2` groups its own (OpenCV's `groupRectangles`, eps 0.2): given
    every window of the scales from `min_side` up, the faces of `find_faces(grey, min_side)`."""
    if not windows:
        return []
    boxes, votes = cv2.groupRectangles(windows, _MIN_NEIGHBOURS, GROUP_EPS)
    return _confident(boxes, votes)


def confident_faces(boxes: Any, votes: Any) -> list[FaceBox]:
    """Grouped boxes and their votes as faces, the unconfident left out, largest first."""
    return [face for face, _ in _confident(boxes, votes)]


def _confident(boxes: Any, votes: Any) -> list[tuple[FaceBox, int]]:
    if len(boxes) == 0:
        return []
    # A real face is found at many scales and offsets (dozens of votes); a pattern that looks
    # like one, a handful. Among the confident ones the largest is the client, not a bystander.
    strongest = max(int(v) for v in votes)
    confident = [
        (FaceBox(*(int(v) for v in box)), int(count))
        for box, count in zip(boxes, votes, strict=True)
        if count >= CONFIDENT_SHARE * strongest
    ]
    return sorted(confident, key=lambda found: _largest_first(found[0]), reverse=True)


def _largest_first(box: FaceBox) -> tuple[int, int, int]:
    return (box.w * box.h, -box.y, -box.x)
