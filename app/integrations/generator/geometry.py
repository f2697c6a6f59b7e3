"""Head regions in face-box units.

A Haar box spans roughly mid-forehead to chin and cheek to cheek, so the rest of the head is
placed from it with fixed proportions (fractions of the box's width `w` and height `h`). They
are priors, not measurements: the hair mask refines them against the photo.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from app.integrations.generator.faces import FaceBox

Shape = tuple[int, ...]
BoolMask = npt.NDArray[np.bool_]

# Long hair starts to fall (and the synthesized curtains to show) at this height of the face.
CURTAIN_TOP = 0.15


def ellipse(shape: Shape, cx: float, cy: float, ax: float, ay: float) -> BoolMask:
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    inside: BoolMask = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0
    return inside


def rows_below(shape: Shape, y: float) -> BoolMask:
    rows = np.arange(shape[0])[:, None] >= y
    below: BoolMask = np.broadcast_to(rows, shape[:2])
    return below


def hair_cap(shape: Shape, face: FaceBox) -> BoolMask:
    """Where hair of any length sits: crown, temples and sides down to the jaw."""
    head = ellipse(shape, face.cx, face.y + 0.40 * face.h, 0.86 * face.w, 0.98 * face.h)
    return head & ~rows_below(shape, face.y + 1.0 * face.h)


def face_core(shape: Shape, face: FaceBox) -> BoolMask:
    """Eyes, nose, mouth and cheeks: never hair, never repainted."""
    return ellipse(shape, face.cx, face.y + 0.56 * face.h, 0.40 * face.w, 0.54 * face.h)


def neck(shape: Shape, face: FaceBox) -> BoolMask:
    xx = np.arange(shape[1])[None, :]
    column: BoolMask = np.abs(xx - face.cx) < 0.40 * face.w
    return column & rows_below(shape, face.y + 0.9 * face.h)


def curtains(shape: Shape, face: FaceBox) -> BoolMask:
    """Where long hair falls: from the temples down beside the face and neck, past the chin."""
    fall = ellipse(shape, face.cx, face.y + 0.95 * face.h, 1.02 * face.w, 1.75 * face.h)
    below_temples = rows_below(shape, face.y + CURTAIN_TOP * face.h)
    cheeks = ellipse(shape, face.cx, face.y + 0.56 * face.h, 0.47 * face.w, 0.60 * face.h)
    return fall & below_temples & ~cheeks & ~neck(shape, face)


def torso(shape: Shape, face: FaceBox) -> BoolMask:
    """Shoulders and back, seen from behind: a rounded block from below the neck downwards."""
    top = face.y + 2.7 * face.h
    round_top = ellipse(shape, face.cx, top, 2.1 * face.w, 1.1 * face.h)
    xx = np.arange(shape[1])[None, :]
    beside: BoolMask = np.abs(xx - face.cx) < 2.1 * face.w
    block = beside & rows_below(shape, top)
    return round_top | block


def crown(shape: Shape, face: FaceBox) -> BoolMask:
    """A thin band high on the head that is hair on nearly everyone who has any."""
    return ellipse(shape, face.cx, face.y - 0.40 * face.h, 0.30 * face.w, 0.08 * face.h)


def face_zone(shape: Shape, face: FaceBox) -> BoolMask:
    """The face box widened to the ears and raised to the hairline: where skin is not hair."""
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    inside_x = (xx >= face.x - 0.25 * face.w) & (xx <= face.x + 1.25 * face.w)
    inside_y = (yy >= face.y - 0.5 * face.h) & (yy <= face.y + 1.3 * face.h)
    zone: BoolMask = inside_x & inside_y
    return zone
