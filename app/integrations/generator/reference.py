"""What the local generator takes from a reference photo ("this haircut"): the hair's colour,
roots to ends, its texture and, when the photo shows a face, its length.

A face is not required: a close-up of hair is read whole (its central part, away from the
edges). Texture comes from the strands' direction: straight hair is lines running down (the
light changes across, hardly along), curls change as much one way as the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from app.integrations.generator.codec import decode_rgb
from app.integrations.generator.faces import find_face
from app.integrations.generator.masks import hair_mask
from app.integrations.generator.port import Length, Texture

# Across/along gradient ratios above which strands read as straight, then as waves.
_STRAIGHT_RATIO = 1.8
_WAVY_RATIO = 1.25
# A faceless close-up: this central share of each side is read as hair.
_CENTRE = 0.6
# Hair ending this many face heights below the top of the face is long, then medium.
_LONG_BELOW, _MEDIUM_BELOW = 1.6, 1.05
_MIN_PIXELS = 64


@dataclass(frozen=True, slots=True)
class ReferenceLook:
    palette: tuple[str, ...]
    texture: Texture
    length: Length | None


def read_reference(data: bytes, max_side: int, max_pixels: int) -> ReferenceLook:
    """Raises the codec's TooManyPixels / UndecodableImage for an unreadable reference."""
    rgb = decode_rgb(data, max_side, max_pixels)
    face = find_face(rgb)
    region: npt.NDArray[np.bool_]
    length: Length | None = None
    if face is not None:
        region = hair_mask(rgb, face, "long") > 0.5
        region[face.y : face.y + face.h, face.x : face.x + face.w] = False
        if int(region.sum()) >= _MIN_PIXELS:
            length = _length(region, face.y, face.h)
    if face is None or int(region.sum()) < _MIN_PIXELS:
        region = _centre(rgb.shape)
    return ReferenceLook(_palette(rgb, region), _texture(rgb, region), length)


def _centre(shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    height, width = shape[0], shape[1]
    region = np.zeros((height, width), np.bool_)
    dy, dx = round(height * (1 - _CENTRE) / 2), round(width * (1 - _CENTRE) / 2)
    region[dy : height - dy, dx : width - dx] = True
    return region


def _palette(rgb: npt.NDArray[np.uint8], region: npt.NDArray[np.bool_]) -> tuple[str, ...]:
    """Mean colours of the upper and lower halves of the hair: roots, then ends."""
    rows = np.flatnonzero(region.any(axis=1))
    middle = (int(rows[0]) + int(rows[-1])) // 2
    upper, lower = region.copy(), region.copy()
    upper[middle:] = False
    lower[:middle] = False
    colours = []
    for part in (upper, lower):
        chosen = part if part.any() else region
        mean = rgb[chosen].mean(axis=0)
        colours.append("#" + "".join(f"{round(float(c)):02x}" for c in mean))
    return tuple(colours)


def _texture(rgb: npt.NDArray[np.uint8], region: npt.NDArray[np.bool_]) -> Texture:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    across = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3))[region].mean()
    along = np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))[region].mean()
    ratio = float(across) / max(float(along), 1e-3)
    if ratio >= _STRAIGHT_RATIO:
        return "straight"
    if ratio >= _WAVY_RATIO:
        return "wavy"
    return "curly"


def _length(region: npt.NDArray[np.bool_], face_y: int, face_h: int) -> Length:
    bottom = int(np.flatnonzero(region.any(axis=1))[-1])
    below = (bottom - face_y) / max(face_h, 1)
    if below >= _LONG_BELOW:
        return "long"
    return "medium" if below >= _MEDIUM_BELOW else "short"
