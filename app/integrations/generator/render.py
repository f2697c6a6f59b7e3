"""The front preview: the client's hair recoloured, retextured and resized to the style.

Colour work happens in CIE L*a*b*: the hair keeps its own light and shade (L*, re-centred on
the palette's lightness) and takes the palette's hue (a*, b*). That keeps strands, shine and
shadow from the photo, which is what makes a recolour look like hair and not like paint.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from app.integrations.generator import geometry, textures
from app.integrations.generator.faces import FaceBox
from app.integrations.generator.masks import FloatMask
from app.integrations.generator.port import HairColour, Length, StyleSpec, Texture

# Float images, height x width x 3: L*a*b* (L 0..100) or RGB (0..1), as each function says.
Pixels = npt.NDArray[np.float32]

# Detail is rescaled towards this spread of L* so flat black hair still shows strands once
# it is made blond, and busy highlights are not exaggerated.
_TARGET_SPREAD = 10.0
_KEPT_HUE_VARIATION = 0.3
# Hair below this line (in face heights under the top of the box) is cut by a short style.
_SHORT_CUT = 0.65
_FEATHER = 0.025  # of the face width: the blur that softens every mask edge


@dataclass(frozen=True, slots=True)
class HairLook:
    """The rendered hair's colour and texture, for views that draw it from another side."""

    lightness: float
    spread: float
    stops: npt.NDArray[np.float32]
    texture: Texture | None
    length: Length | None


@dataclass(frozen=True, slots=True)
class Rendered:
    rgb: npt.NDArray[np.uint8]
    look: HairLook


def render_front(
    rgb: npt.NDArray[np.uint8],
    face: FaceBox,
    hair: FloatMask,
    style: StyleSpec,
    rng: np.random.Generator,
    colour: HairColour | None = None,
) -> Rendered:
    base = rgb
    if style.length == "short":
        base, hair = _trim(rgb, hair, face)
    extension = _curtains(rgb.shape, face, hair) if style.length == "long" else None
    stops = _stops(rgb, hair, style, colour)
    covered = (hair > 0.5) if extension is None else (hair > 0.5) | (extension > 0.5)
    top, bottom = _extent(covered)
    target = textures.gradient(rgb.shape[0], top, bottom, stops)
    painted, lightness, spread = _recolour(_to_lab(base), hair > 0.5, target)
    painted[..., 0] += textures.shading(rgb.shape, face.w, style.texture, rng)
    painted = textures.bend(painted, face.w, style.texture, rng)
    look = HairLook(lightness, spread, stops, style.texture, style.length)
    keep_face = 1.0 - feather(geometry.face_core(rgb.shape, face).astype(np.float32), face)
    out = base.astype(np.float32) / 255.0
    if extension is not None:
        grown = synthesize_hair(rgb.shape, face, look, target, rng)
        grown[..., 0] -= _edge_shadow(extension > 0.5, face)
        out = _over(out, _to_rgb(grown), extension * keep_face)
    out = _over(out, _to_rgb(painted), feather(hair, face) * keep_face)
    return Rendered(np.asarray(np.clip(out * 255.0 + 0.5, 0, 255), np.uint8), look)


# A chosen colour is painted a little darker at the roots, as dyed hair looks.
_ROOT_DARKENING = 6.0


def _stops(
    rgb: npt.NDArray[np.uint8], hair: FloatMask, style: StyleSpec, colour: HairColour | None
) -> npt.NDArray[np.float32]:
    """The L*a*b* colours the hair runs through, roots to ends: the person's choice, their own
    colour ("keep"), or the style's palette when no choice was made."""
    if colour is None:
        return textures.palette_lab(style.palette)
    if colour.hex is not None:
        ends = textures.palette_lab((colour.hex,))[0]
        roots = ends.copy()
        roots[0] = max(0.0, float(ends[0]) - _ROOT_DARKENING)
        return np.stack([roots, ends]).astype(np.float32)
    own = hair > 0.5
    if not own.any():
        return textures.palette_lab(style.palette)
    return np.asarray(_to_lab(rgb)[own].mean(axis=0, keepdims=True), np.float32)


def synthesize_hair(
    shape: tuple[int, ...], face: FaceBox, look: HairLook, target: Pixels, rng: np.random.Generator
) -> Pixels:
    """A full-frame layer of new hair in the look's colours, to be shown through a mask."""
    lab = np.empty((shape[0], shape[1], 3), np.float32)
    lab[..., 0] = look.lightness + look.spread * textures.strands(shape, face.w, rng)
    lab[..., 0] += textures.shading(shape, face.w, look.texture, rng)
    lab[..., 1:] = target[..., 1:]
    np.clip(lab[..., 0], 0.0, 100.0, out=lab[..., 0])
    return textures.bend(lab, face.w, look.texture, rng)


def _edge_shadow(region: geometry.BoolMask, face: FaceBox) -> FloatMask:
    """Up to 12 L* darker towards the region's edges: locks look round, not cut from paper."""
    inside = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3)
    depth = np.clip(np.asarray(inside, np.float32) / (0.15 * face.w), 0.0, 1.0)
    return np.asarray(12.0 * (1.0 - depth), np.float32)


def feather(mask: FloatMask, face: FaceBox) -> FloatMask:
    sigma = max(1.0, _FEATHER * face.w)
    return np.asarray(cv2.GaussianBlur(mask, (0, 0), sigma), np.float32)


def _recolour(lab: Pixels, hair: geometry.BoolMask, target: Pixels) -> tuple[Pixels, float, float]:
    """Hair re-centred on the target colour, its light/shade detail kept; also its mean/spread."""
    if not hair.any():
        return lab, float(target[..., 0].mean()), _TARGET_SPREAD
    lightness = lab[..., 0]
    mean, spread = float(lightness[hair].mean()), float(lightness[hair].std())
    gain = float(np.clip(_TARGET_SPREAD / max(spread, 1e-3), 0.8, 1.6))
    painted = np.empty_like(lab)
    painted[..., 0] = np.clip(target[..., 0] + (lightness - mean) * gain, 0.0, 100.0)
    # Shadows carry less colour than highlights; scaling chroma by relative lightness keeps
    # dark strands from glowing in the palette's hue.
    chroma = np.clip(painted[..., 0] / np.maximum(target[..., 0], 1.0), 0.5, 1.3)
    for channel in (1, 2):
        own = lab[..., channel] - lab[..., channel][hair].mean()
        painted[..., channel] = target[..., channel] * chroma + _KEPT_HUE_VARIATION * own
    new_lightness = painted[..., 0][hair]
    return painted, float(new_lightness.mean()), float(new_lightness.std())


def _trim(
    rgb: npt.NDArray[np.uint8], hair: FloatMask, face: FaceBox
) -> tuple[npt.NDArray[np.uint8], FloatMask]:
    """Hair below the cut line painted out (inpainted from its surroundings) and unmasked."""
    lower = (hair > 0.5) & geometry.rows_below(rgb.shape, face.y + _SHORT_CUT * face.h)
    lower &= ~geometry.face_core(rgb.shape, face)
    if not lower.any():
        return rgb, hair
    grown = cv2.dilate(lower.astype(np.uint8), np.ones((5, 5), np.uint8))
    filled = np.asarray(cv2.inpaint(rgb, grown, 5, cv2.INPAINT_TELEA), np.uint8)
    soft = feather(grown.astype(np.float32), face)
    blended = _over(rgb.astype(np.float32) / 255.0, filled.astype(np.float32) / 255.0, soft)
    trimmed = np.asarray(np.clip(blended * 255.0 + 0.5, 0, 255), np.uint8)
    return trimmed, np.asarray(hair * (1.0 - soft), np.float32)


def _curtains(shape: tuple[int, ...], face: FaceBox, hair: FloatMask) -> FloatMask:
    """Where long hair is added: beside face and neck, emerging from under the client's hair
    at the temples and tapering at the ends."""
    region = geometry.curtains(shape, face) & (hair < 0.5)
    rows = np.flatnonzero(region.any(axis=1))
    if rows.size == 0:
        return np.zeros(shape[:2], np.float32)
    yy = np.arange(shape[0], dtype=np.float32)[:, None]
    start = face.y + geometry.CURTAIN_TOP * face.h
    emerge = np.clip((yy - start) / (0.3 * face.h), 0.0, 1.0)
    taper = np.sqrt(np.clip((rows[-1] - yy) / (0.35 * face.h), 0.0, 1.0))
    return feather(region.astype(np.float32) * emerge * taper, face)


def _extent(mask: geometry.BoolMask) -> tuple[int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return 0, mask.shape[0] - 1
    return int(rows[0]), int(rows[-1])


def _over(base: Pixels, layer: Pixels, alpha: FloatMask) -> Pixels:
    a = alpha[..., None]
    return np.asarray(layer * a + base * (1.0 - a), np.float32)


def _to_lab(rgb: npt.NDArray[np.uint8]) -> Pixels:
    return np.asarray(cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB), np.float32)


def _to_rgb(lab: Pixels) -> Pixels:
    return np.asarray(np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), 0.0, 1.0), np.float32)
