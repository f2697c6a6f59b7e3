"""Procedural hair: strand noise, wave and curl shading, colour gradients from a palette.

Every pattern is scaled to the face width, so a curl is curl-sized on any photo, and drawn
from a seeded generator, so the same seed always draws the same hair.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from app.integrations.generator.port import Texture

Field = npt.NDArray[np.float32]

# Wavelength and depth (in L* units) of the light/dark bands each texture shows.
_BANDS: dict[Texture, tuple[float, float]] = {
    "straight": (0.0, 0.0),
    "wavy": (0.45, 6.0),
    "curly": (0.14, 9.0),
    "coily": (0.08, 10.0),
}
# How far (in face widths) each texture pushes strands sideways when it bends them.
_BEND: dict[Texture, float] = {"straight": 0.0, "wavy": 0.025, "curly": 0.02, "coily": 0.012}
_STRAND_DEPTH = 4.0


def palette_lab(palette: tuple[str, ...]) -> npt.NDArray[np.float32]:
    """The palette's colours in CIE L*a*b* (L 0..100), one row per colour."""
    rgb = np.array([[list(bytes.fromhex(c.removeprefix("#"))) for c in palette]], np.float32)
    rgb /= 255.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    return np.asarray(lab[0], np.float32)


def gradient(height: int, top: int, bottom: int, stops: npt.NDArray[np.float32]) -> Field:
    """A column of L*a*b* colours running through `stops` from row `top` to row `bottom`."""
    rows = np.arange(height, dtype=np.float32)
    position = np.clip((rows - top) / max(1, bottom - top), 0.0, 1.0)
    anchors = np.linspace(0.0, 1.0, len(stops))
    column = np.stack([np.interp(position, anchors, stops[:, c]) for c in range(3)], axis=-1)
    return np.asarray(column[:, None, :], np.float32)


def strands(shape: tuple[int, ...], face_w: float, rng: np.random.Generator) -> Field:
    """Zero-mean, unit-spread noise stretched along the vertical: the look of hair strands."""
    height, width = shape[0], shape[1]
    across = max(2, round(width / max(1.0, 0.02 * face_w)))
    along = max(2, round(height / max(1.0, 0.35 * face_w)))
    coarse = rng.standard_normal((along, across)).astype(np.float32)
    noise = np.asarray(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC))
    return np.asarray((noise - noise.mean()) / max(float(noise.std()), 1e-6), np.float32)


def shading(
    shape: tuple[int, ...], face_w: float, texture: Texture | None, rng: np.random.Generator
) -> Field:
    """An L* offset field: fine strands, plus the bands of waves, curls or coils.

    No texture means the client keeps theirs: nothing is added over the photo's own strands.
    """
    if texture is None:
        return np.zeros(shape[:2], np.float32)
    field = _STRAND_DEPTH * strands(shape, face_w, rng)
    wavelength, depth = _BANDS[texture]
    if depth == 0.0:
        return field
    period = wavelength * face_w
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    wobble = _smooth_noise(shape, 1.5 * period, rng) * period
    # Bands tilt gently across the head so they read as hair, not as stripes.
    sway = 1.5 * np.sin(2 * math.pi * xx / (1.4 * face_w))
    bands = np.sin(2 * math.pi * (yy + wobble) / period + sway)
    if texture != "wavy":
        # Curls and coils break the bands into rings: a second set across the first.
        bands = bands * np.sin(2 * math.pi * (xx - wobble) / period)
    return np.asarray(field + depth * bands, np.float32)


def bend(image: Field, face_w: float, texture: Texture | None, rng: np.random.Generator) -> Field:
    """`image` with its columns pushed sideways along a sine: straight strands become waves.

    The phase drifts across the head so neighbouring locks do not wave in lockstep.
    """
    if texture is None or _BEND[texture] == 0.0:
        return image
    wavelength = _BANDS[texture][0] * face_w
    phase = 1.2 * _smooth_noise(image.shape, 1.2 * face_w, rng)
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]].astype(np.float32)
    map_x = xx + _BEND[texture] * face_w * np.sin(2 * math.pi * yy / wavelength + phase)
    bent = cv2.remap(image, map_x, yy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.asarray(bent, np.float32)


def _smooth_noise(shape: tuple[int, ...], scale: float, rng: np.random.Generator) -> Field:
    cells = (max(2, round(shape[0] / scale)), max(2, round(shape[1] / scale)))
    coarse = rng.standard_normal(cells).astype(np.float32)
    return np.asarray(cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC))
