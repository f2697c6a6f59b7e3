"""The hair mask: a head-shaped prior from the face box, refined by GrabCut against the photo.

GrabCut runs on a crop around the head, scaled so the face is ~72 px wide: the mask is
feathered afterwards anyway, and that keeps it near 100 ms whatever the photo's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from app.integrations.generator import geometry
from app.integrations.generator.faces import FaceBox
from app.integrations.generator.geometry import BoolMask
from app.integrations.generator.port import Length

FloatMask = npt.NDArray[np.float32]

_WORK_FACE_WIDTH = 72
_GRABCUT_ITERATIONS = 2
# GrabCut seeds its colour models with k-means++, which draws from OpenCV's per-thread RNG.
_GRABCUT_RNG_SEED = 0x5EED
# Below this share of the prior, GrabCut has lost the hair (bald head, hat, hair the colour of
# the wall) and the prior itself, minus skin, is the better guess.
_MIN_HAIR_SHARE = 0.12
_MIN_COMPONENT_SHARE = 0.10


@dataclass(frozen=True, slots=True)
class _Crop:
    x0: int
    y0: int
    x1: int
    y1: int


def hair_mask(rgb: npt.NDArray[np.uint8], face: FaceBox, length: Length | None) -> FloatMask:
    """Where the client's hair is, 0..1 per pixel of `rgb`."""
    crop = _head_crop(rgb.shape, face, length)
    region = rgb[crop.y0 : crop.y1, crop.x0 : crop.x1]
    scale = min(1.0, _WORK_FACE_WIDTH / face.w)
    small = region
    if scale < 1.0:
        small = np.asarray(
            cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), np.uint8
        )
    local = face.shifted(-crop.x0, -crop.y0).scaled(scale)
    prior = geometry.hair_cap(small.shape, local)
    if length == "long":
        prior = prior | geometry.curtains(small.shape, local)
    skin = skin_mask(small, local) & geometry.face_zone(small.shape, local)
    hair = _clean(_grabcut(small, _seeds(small.shape, local, prior, skin)), local)
    if hair.sum() < _MIN_HAIR_SHARE * prior.sum():
        hair = prior & ~skin & ~geometry.face_core(small.shape, local)
    soft = cv2.resize(
        hair.astype(np.float32), (region.shape[1], region.shape[0]), interpolation=cv2.INTER_LINEAR
    )
    full = np.zeros(rgb.shape[:2], np.float32)
    full[crop.y0 : crop.y1, crop.x0 : crop.x1] = soft
    return full


def _head_crop(shape: tuple[int, ...], face: FaceBox, length: Length | None) -> _Crop:
    below = 2.9 if length == "long" else 1.4
    return _Crop(
        x0=max(0, round(face.x - 0.9 * face.w)),
        y0=max(0, round(face.y - 0.9 * face.h)),
        x1=min(shape[1], round(face.x + 1.9 * face.w)),
        y1=min(shape[0], round(face.y + below * face.h)),
    )


def skin_mask(rgb: npt.NDArray[np.uint8], face: FaceBox) -> BoolMask:
    """Pixels whose chroma matches the middle of the face (cheeks and nose), in YCrCb.

    The reference comes from this face, not a fixed range, so it works for every skin tone;
    the tolerance follows the face's own spread within fixed bounds.
    """
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    y0, y1 = round(face.y + 0.45 * face.h), round(face.y + 0.75 * face.h)
    x0, x1 = round(face.cx - 0.18 * face.w), round(face.cx + 0.18 * face.w)
    sample = ycrcb[max(0, y0) : y1, max(0, x0) : x1, 1:].reshape(-1, 2)
    if sample.size == 0:
        return np.zeros(rgb.shape[:2], np.bool_)
    centre = np.median(sample, axis=0)
    tolerance = np.clip(2.5 * sample.std(axis=0), 4.0, 10.0)
    distance = ((ycrcb[..., 1:] - centre) / tolerance) ** 2
    skin: BoolMask = distance.sum(axis=-1) <= 1.0
    return skin


def _seeds(
    shape: tuple[int, ...], face: FaceBox, prior: BoolMask, skin: BoolMask
) -> npt.NDArray[np.uint8]:
    seeds = np.full(shape[:2], cv2.GC_PR_BGD, np.uint8)
    # Far from the head is certainly background: the image border of the crop, above all.
    reach = _dilate(prior, 0.35 * face.w)
    seeds[~reach] = cv2.GC_BGD
    seeds[prior] = cv2.GC_PR_FGD
    seeds[geometry.crown(shape, face) & prior] = cv2.GC_FGD
    # Skin last: it overrides the crown on a bald head or a high hairline.
    seeds[skin] = cv2.GC_BGD
    seeds[geometry.face_core(shape, face)] = cv2.GC_BGD
    seeds[geometry.neck(shape, face) & ~prior] = cv2.GC_BGD
    return seeds


def _grabcut(rgb: npt.NDArray[np.uint8], seeds: npt.NDArray[np.uint8]) -> BoolMask:
    has_both = (seeds % 2 == 0).any() and (seeds % 2 == 1).any()  # BGD/PR_BGD even, FGD odd
    if not has_both:
        hair: BoolMask = seeds % 2 == 1
        return hair
    mask = seeds.copy()
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(_GRABCUT_RNG_SEED)
    cv2.grabCut(
        rgb,
        mask,
        (0, 0, 0, 0),
        background_model,
        foreground_model,
        _GRABCUT_ITERATIONS,
        cv2.GC_INIT_WITH_MASK,
    )
    refined: BoolMask = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    return refined


def _clean(hair: BoolMask, face: FaceBox) -> BoolMask:
    """Drop specks and stray blobs GrabCut picked up in the background; close small gaps."""
    opened = cv2.morphologyEx(hair.astype(np.uint8), cv2.MORPH_OPEN, _disc(3))
    as_u8 = np.asarray(
        cv2.morphologyEx(opened, cv2.MORPH_CLOSE, _disc(_odd(0.08 * face.w))), np.uint8
    )
    count, labels, stats, _ = cv2.connectedComponentsWithStats(as_u8, connectivity=8)
    if count <= 1:
        return np.zeros(hair.shape, np.bool_)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= _MIN_COMPONENT_SHARE * areas.max()) + 1
    kept: BoolMask = np.isin(labels, keep)
    return kept


def _dilate(mask: BoolMask, radius: float) -> BoolMask:
    grown = cv2.dilate(mask.astype(np.uint8), _disc(_odd(2 * radius)))
    dilated: BoolMask = grown.astype(np.bool_)
    return dilated


def _disc(size: int) -> npt.NDArray[np.uint8]:
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)), np.uint8)


def _odd(value: float) -> int:
    return max(3, round(value) // 2 * 2 + 1)
