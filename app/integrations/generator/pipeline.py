"""The local preview from bytes to bytes, in stages; synchronous, run in a worker thread.

Stages check the deadline before they start, so a late job stops at the next stage boundary
(each is well under a second) instead of finishing work nobody will wait for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

from app.integrations.generator.codec import (
    TooManyPixels,
    UndecodableImage,
    decode_rgb,
    encode_jpeg,
)
from app.integrations.generator.deadline import Deadline
from app.integrations.generator.faces import FaceBox, find_face
from app.integrations.generator.masks import hair_mask
from app.integrations.generator.port import GenerationFailed, HairColour, StyleSpec, View
from app.integrations.generator.reference import read_reference
from app.integrations.generator.render import Rendered, render_front
from app.integrations.generator.views import back_view, side_view

logger = logging.getLogger(__name__)

_FRONT_LABEL = "Preview"


class StageClock:
    """Checks the deadline as each stage starts and records how long each one took."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self.timings_ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._deadline.check(name)
        started = time.perf_counter()
        yield
        self.timings_ms[name] = round((time.perf_counter() - started) * 1000, 1)


def render_preview(
    data: bytes,
    style: StyleSpec,
    view: View,
    *,
    seed: int,
    max_side: int,
    max_pixels: int,
    deadline: Deadline,
    colour: HairColour | None = None,
    reference: bytes | None = None,
) -> bytes:
    """JPEG bytes of the labelled preview, or `GenerationFailed` with the job failure code.

    With a `reference` photo the hair's palette, texture and (when it shows a face) length
    come from it instead of `style`."""
    clock = StageClock(deadline)
    try:
        if reference is not None:
            with clock.stage("reference"):
                style = _from_reference(style, reference, max_side, max_pixels)
        result = _render(data, (style, colour), view, seed, (max_side, max_pixels), clock)
    except GenerationFailed:
        raise
    except (TooManyPixels, UndecodableImage) as exc:
        raise _unreadable(exc) from exc
    except Exception as exc:
        # A bug or an OpenCV/Pillow failure on an odd image: the job fails and is refunded
        # rather than the worker dying; the traceback goes to the log.
        logger.exception("local preview failed", extra={"view": str(view)})
        raise GenerationFailed("GENERATION_FAILED") from exc
    logger.debug("local preview rendered", extra={"view": str(view), "stages_ms": clock.timings_ms})
    return result


def _from_reference(style: StyleSpec, data: bytes, max_side: int, max_pixels: int) -> StyleSpec:
    try:
        look = read_reference(data, max_side, max_pixels)
    except (TooManyPixels, UndecodableImage) as exc:
        raise GenerationFailed("INVALID_IMAGE", "The reference photo could not be read.") from exc
    return StyleSpec(
        name=style.name,
        prompt=style.prompt,
        palette=look.palette,
        length=look.length,
        texture=look.texture,
    )


def _unreadable(exc: TooManyPixels | UndecodableImage) -> GenerationFailed:
    if isinstance(exc, TooManyPixels):
        return GenerationFailed("GENERATION_FAILED", str(exc))
    return GenerationFailed("GENERATION_FAILED", "The image could not be read.")


def _render(
    data: bytes,
    look: tuple[StyleSpec, HairColour | None],
    view: View,
    seed: int,
    limits: tuple[int, int],
    clock: StageClock,
) -> bytes:
    with clock.stage("decode"):
        rgb = decode_rgb(data, *limits)
    with clock.stage("face"):
        face = find_face(rgb)
    if face is None:
        raise GenerationFailed("NO_FACE_DETECTED")
    style, colour = look
    with clock.stage("mask"):
        hair = hair_mask(rgb, face, style.length)
    rng = np.random.default_rng(seed)
    with clock.stage("render"):
        front = render_front(rgb, face, hair, style, rng, colour)
    with clock.stage("view"):
        image = _turn_to(view, front, face, rng)
    label = _FRONT_LABEL if view == View.FRONT else f"{_FRONT_LABEL} — {view}"
    with clock.stage("encode"):
        return encode_jpeg(image, label)


def _turn_to(
    view: View, front: Rendered, face: FaceBox, rng: np.random.Generator
) -> npt.NDArray[np.uint8]:
    if view == View.FRONT:
        return front.rgb
    if view == View.BACK:
        return back_view(front.rgb, face, front.look, rng)
    return side_view(front.rgb, face, "right" if view == View.RIGHT else "left")
