"""The person's colour choice on both generators at the adapter edge: the local preview paints
the chosen colour or keeps the person's own; Replicate's prompt says which (SPEC §4a)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from app.integrations.generator import HairColour, LocalGenerator, StyleSpec
from app.integrations.generator.faces import find_face
from app.integrations.generator.masks import hair_mask
from app.integrations.generator.replicate import front_prompt
from tests.integrations.generator.images import COPPER_BOB, decode, request

KEEP = HairColour(id="keep", name="Your own colour")
ICE_BLUE = HairColour(id="ice-blue", name="Ice blue", hex="#7fb2d9")


def _hair_lab(reference: npt.NDArray[np.uint8], image: npt.NDArray[np.uint8]) -> np.ndarray:
    """Mean L*a*b* of `image` over the hair found in `reference` (face box left out)."""
    face = find_face(reference)
    assert face is not None
    hair = hair_mask(reference, face, COPPER_BOB.length) > 0.5
    hair[face.y : face.y + face.h, face.x : face.x + face.w] = False
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    return np.asarray(lab[hair].mean(axis=0))


async def test_a_chosen_colour_replaces_the_style_palette_in_the_local_preview(
    generator: LocalGenerator, portrait: bytes
) -> None:
    before = decode(portrait)
    target = cv2.cvtColor(np.array([[[127, 178, 217]]], np.float32) / 255, cv2.COLOR_RGB2LAB)[0, 0]
    coloured = replace(request(portrait), hair_color=ICE_BLUE)
    after = decode((await generator.generate(coloured)).data)
    palette_only = decode((await generator.generate(request(portrait))).data)

    lab = _hair_lab(before, after)
    # Ice blue has a clearly negative b*; the copper palette a strongly positive a*.
    assert lab[2] < _hair_lab(before, before)[2] - 10
    assert abs(lab[2] - target[2]) < abs(_hair_lab(before, palette_only)[2] - target[2])
    assert lab[1] < _hair_lab(before, palette_only)[1] - 10


async def test_keep_leaves_the_persons_own_hair_colour_in_the_local_preview(
    generator: LocalGenerator, portrait: bytes
) -> None:
    before = decode(portrait)
    kept = decode((await generator.generate(replace(request(portrait), hair_color=KEEP))).data)
    painted = decode((await generator.generate(request(portrait))).data)

    own, after_keep = _hair_lab(before, before), _hair_lab(before, kept)
    assert np.abs(after_keep[1:] - own[1:]).max() < 4  # hue kept
    assert abs(after_keep[0] - own[0]) < 6  # lightness kept
    # The style's copper palette would have shifted a* far more: the test can tell them apart.
    assert _hair_lab(before, painted)[1] - own[1] > 10


@pytest.mark.parametrize(
    ("colour", "expected", "absent"),
    [
        (None, None, "hair colour"),
        (KEEP, "Keep the person's own natural hair colour", "Hair colour:"),
        (ICE_BLUE, "Hair colour: ice blue (close to #7fb2d9)", "own natural hair colour"),
    ],
    ids=["no choice", "keep", "a colour"],
)
def test_the_replicate_prompt_combines_the_style_and_the_colour(
    colour: HairColour | None, expected: str | None, absent: str
) -> None:
    style = StyleSpec(name="Bob", prompt="A chin-length bob.", palette=("#332211",))
    prompt = front_prompt(replace(request(b"x", style), hair_color=colour))
    assert prompt.startswith("A chin-length bob.")
    if expected is not None:
        assert expected in prompt
    assert absent not in prompt


def test_a_hair_colour_must_be_hex() -> None:
    with pytest.raises(ValueError, match="hex"):
        HairColour(id="x", name="x", hex="blue")
