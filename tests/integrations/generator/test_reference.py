"""A haircut from a photo at the adapter edge (SPEC §4a): the local generator reads the
reference's hair colour and texture (a face in it is not needed) and paints them into the
person's hair. What Replicate is sent is checked through the API against the fake
(tests/generation/test_replicate_options.py)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import numpy.typing as npt

from app.integrations.generator import HairColour, LocalGenerator
from app.integrations.generator.faces import find_face
from app.integrations.generator.masks import hair_mask
from app.integrations.generator.reference import read_reference
from tests.integrations.generator.images import decode, encode, request

LIMITS = (512, 40_000_000)


def _swatch(rgb: tuple[int, int, int], pattern: str, size: int = 240) -> bytes:
    """A faceless close-up of hair: straight vertical strands, or round curls."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    if pattern == "straight":
        shade = np.sin(xx / 2.0) * 0.25
    else:
        shade = np.sin(xx / 5.0) * np.sin(yy / 5.0) * 0.35
    image = np.clip(np.array(rgb, np.float32)[None, None, :] * (1 + shade[..., None]), 0, 255)
    return encode(image.astype(np.uint8))


def _hair_a(before: npt.NDArray[np.uint8], image: npt.NDArray[np.uint8]) -> float:
    face = find_face(before)
    assert face is not None
    hair = hair_mask(before, face, None) > 0.5
    hair[face.y : face.y + face.h, face.x : face.x + face.w] = False
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    return float(lab[..., 1][hair].mean())


def test_a_faceless_reference_gives_its_colour_and_texture() -> None:
    straight = read_reference(_swatch((170, 60, 30), "straight"), *LIMITS)
    curly = read_reference(_swatch((40, 60, 170), "curly"), *LIMITS)

    assert straight.texture == "straight"
    assert curly.texture in {"curly", "coily"}
    red, blue = (bytes.fromhex(look.palette[-1][1:]) for look in (straight, curly))
    assert red[0] > red[2] + 60
    assert blue[2] > blue[0] + 60
    assert straight.length is None  # no face: the person's own length stays


async def test_the_local_generator_paints_the_references_hair_into_the_persons(
    generator: LocalGenerator, portrait: bytes
) -> None:
    before = decode(portrait)
    reference = _swatch((190, 40, 40), "straight")
    from_photo = replace(request(portrait), reference_bytes=reference)
    after = decode((await generator.generate(from_photo)).data)
    kept = replace(from_photo, hair_color=HairColour(id="keep", name="Your own colour"))
    kept_after = decode((await generator.generate(kept)).data)

    own = _hair_a(before, before)
    assert _hair_a(before, after) - own > 15  # the reference's red
    assert abs(_hair_a(before, kept_after) - own) < 5  # "keep" keeps their own colour
