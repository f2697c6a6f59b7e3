"""The photo check's face search (large windows first, stopping when the small ones can no
longer change the answer) measures what a full scan of every window measures, and gives the
same verdict, on the photos that decide each verdict."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import pytest

from app.core.imaging import DEFAULT_MAX_PIXELS
from app.integrations.generator.codec import decode_rgb
from app.integrations.generator.faces import (
    FaceBox,
    find_faces,
    group_windows,
    raw_windows,
    window_sides,
)
from app.photos.face_search import COMPARABLE_FACE, search_faces_scanned
from app.photos.measure import Grey, measure_photo
from app.photos.rules import PhotoThresholds, first_problem
from tests.generation.steps import portrait
from tests.photos import crafted

LIMITS = PhotoThresholds(min_face_share=0.10, min_brightness=30.0, min_sharpness=50.0)

PHOTOS: dict[str, tuple[Callable[[], bytes], str | None]] = {
    "one large face": (crafted.large_face, None),
    "large face and a far smaller bystander": (crafted.large_face_and_bystander, None),
    "the fixture portrait": (portrait, None),
    "one small face": (crafted.tiny_face, "FACE_TOO_SMALL"),
    "two faces": (crafted.two_faces, "MULTIPLE_FACES"),
    "no face": (crafted.faceless, "NO_FACE_DETECTED"),
}


def _grey(data: bytes) -> tuple[Grey, int]:
    """The copy and the smallest face `measure_photo` searches."""
    grey = cv2.cvtColor(decode_rgb(data, 1024, DEFAULT_MAX_PIXELS), cv2.COLOR_RGB2GRAY)
    return grey, max(24, round(0.03 * min(grey.shape)))


def _measured(faces: list[FaceBox]) -> tuple[FaceBox | None, int]:
    """What the measurement takes from the faces: the largest, and how many count."""
    if not faces:
        return None, 0
    return faces[0], sum(1 for f in faces if f.w >= COMPARABLE_FACE * faces[0].w)


@pytest.mark.parametrize("name", PHOTOS)
def test_the_search_measures_the_faces_a_full_scan_finds(name: str) -> None:
    grey, min_side = _grey(PHOTOS[name][0]())

    searched, _ = search_faces_scanned(grey, min_side)

    assert _measured(searched) == _measured(find_faces(grey, min_side))


@pytest.mark.parametrize("name", PHOTOS)
def test_the_verdict_is_pinned(name: str) -> None:
    make, verdict = PHOTOS[name]

    problem = first_problem(measure_photo(make(), DEFAULT_MAX_PIXELS), LIMITS, needs_face=True)

    assert (problem.code if problem is not None else None) == verdict


def test_one_large_face_is_settled_without_the_smallest_windows() -> None:
    grey, min_side = _grey(crafted.large_face())

    faces, narrowest = search_faces_scanned(grey, min_side)

    assert len(faces) == 1
    # Windows down to about half the face's width settle it (face_search's docstring).
    assert narrowest > faces[0].w * 0.4 > min_side


@pytest.mark.parametrize("name", ["one small face", "no face"])
def test_a_photo_without_a_large_face_is_scanned_down_to_the_smallest_window(name: str) -> None:
    grey, min_side = _grey(PHOTOS[name][0]())

    _, narrowest = search_faces_scanned(grey, min_side)

    assert narrowest == min(s for s in window_sides(min(grey.shape)) if s >= min_side)


def test_grouping_the_windows_of_every_scale_is_the_full_scan() -> None:
    """The premise the search stands on: each scale's windows do not depend on the others, and
    OpenCV's own grouping of all of them is `detectMultiScale2`'s."""
    grey, min_side = _grey(crafted.two_faces())
    windows = [
        window
        for side in window_sides(min(grey.shape))
        if side >= min_side
        for window in raw_windows(grey, side)
    ]

    assert [face for face, _ in group_windows(windows)] == find_faces(grey, min_side)
