from __future__ import annotations

import io

import numpy as np
from PIL import Image

from app.integrations.generator.faces import find_face
from tests.integrations.generator.images import (
    PORTRAIT_FACE,
    gradient_image,
    landscape_image,
)


def _portrait_rgb(portrait: bytes) -> np.ndarray[tuple[int, ...], np.dtype[np.uint8]]:
    with Image.open(io.BytesIO(portrait)) as image:
        return np.asarray(image.convert("RGB"), np.uint8)


def test_the_portrait_face_is_found_where_opencv_documents_it(portrait: bytes) -> None:
    face = find_face(_portrait_rgb(portrait))

    assert face is not None
    for found, documented in zip((face.x, face.y, face.w, face.h), PORTRAIT_FACE, strict=True):
        assert abs(found - documented) <= 6


def test_the_face_box_scales_with_the_image(portrait: bytes) -> None:
    big = np.asarray(Image.fromarray(_portrait_rgb(portrait)).resize((1024, 1024)), np.uint8)

    face = find_face(big)

    assert face is not None
    for found, documented in zip((face.x, face.y, face.w, face.h), PORTRAIT_FACE, strict=True):
        assert abs(found - 2 * documented) <= 12


def test_photos_without_a_face_give_none() -> None:
    assert find_face(gradient_image()) is None
    assert find_face(landscape_image()) is None
