"""Side and back previews, drawn from the front preview.

A single photo cannot show the side or back of a head; these are honest approximations,
labelled as previews: the side views turn the front image (the head as a cylinder, the frame
as a tilted card), the back view paints the back of a head in the style's hair over the
photo's own background, clothes and skin colours.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from app.integrations.generator import geometry, textures
from app.integrations.generator.faces import FaceBox
from app.integrations.generator.render import HairLook, feather

Side = Literal["right", "left"]
Image = npt.NDArray[np.uint8]
Field = npt.NDArray[np.float32]

_TURN = math.radians(24)
_FAR_EDGE = 0.88  # the receding edge of the frame looks this much shorter than the near one
_FAR_SHADE = 0.80
_CROP_FACE_WIDTHS = 3.8


def side_view(rgb: Image, face: FaceBox, side: Side) -> Image:
    """The head turned so its `side` faces the camera, framed around the head.

    The client's right side is on the left of a front photo, so "right" swings the left of
    the image towards the viewer and the right away.
    """
    sign = 1.0 if side == "right" else -1.0
    turned = _turn_head(rgb, face, sign)
    height, width = rgb.shape[:2]
    near, far = (0.0, float(width)) if sign > 0 else (float(width), 0.0)
    # The near edge grows rather than the far edge shrinking: the frame stays covered by the
    # photo, with no empty corners to fill with smeared or mirrored pixels.
    grow = height * (1.0 / _FAR_EDGE - 1.0) / 2
    src = np.array([[near, 0], [far, 0], [far, height], [near, height]], np.float32)
    dst = np.array([[near, -grow], [far, 0], [far, height], [near, height + grow]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    tilted = cv2.warpPerspective(turned, matrix, (width, height), flags=cv2.INTER_LINEAR)
    # The receding side is lit less, as it would be turned away from a frontal light.
    ramp = np.linspace(1.0, _FAR_SHADE, width, dtype=np.float32)
    shade = ramp if sign > 0 else ramp[::-1]
    lit = np.asarray(tilted, np.float32) * shade[None, :, None]
    head = cv2.perspectiveTransform(
        np.array([[[face.cx, face.y + 0.45 * face.h]]], np.float32), matrix
    )
    head_x, head_y = float(head[0, 0, 0]), float(head[0, 0, 1])
    return _frame(np.clip(lit, 0, 255).astype(np.uint8), (head_x, head_y), face, sign)


def _turn_head(rgb: Image, face: FaceBox, sign: float) -> Image:
    """Rotate the head about a vertical axis, modelling it as a cylinder one face wide.

    Columns inside the cylinder are resampled by angle; outside it the shift fades out, and
    below the chin it fades out slowly (long hair falls there), so the shoulders stay put.
    """
    height, width = rgb.shape[:2]
    radius = 0.95 * face.w
    xx = np.arange(width, dtype=np.float32)
    u = np.clip((xx - face.cx) / radius, -1.0, 1.0)
    # Angle on the cylinder seen at each output column, minus the turn; the back half (beyond
    # ±90°) is not in the photo, so the head's edge, which is hair, is stretched over it.
    source_angle = np.clip(np.arcsin(u) - sign * _TURN, -math.pi / 2, math.pi / 2)
    # Columns beyond the cylinder get its edge's shift (u is clipped to ±1 there), fading out.
    shift = radius * (np.sin(source_angle) - u)
    fade = np.exp(-np.maximum(np.abs(xx - face.cx) - radius, 0.0) / (0.6 * face.w))
    shift = shift * fade
    yy = np.arange(height, dtype=np.float32)[:, None]
    rows = np.clip((face.y + 2.4 * face.h - yy) / (1.2 * face.h), 0.0, 1.0)
    map_x = (xx[None, :] + shift[None, :] * rows).astype(np.float32)
    map_y = np.broadcast_to(yy, (height, width)).astype(np.float32)
    return np.asarray(
        cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101), np.uint8
    )


def _frame(image: Image, head: tuple[float, float], face: FaceBox, sign: float) -> Image:
    """A crop centred a little behind the head (room for the hair), scaled to the full frame."""
    height, width = image.shape[:2]
    crop_w = min(float(width), _CROP_FACE_WIDTHS * face.w)
    crop_h = crop_w * height / width
    centre_x = head[0] - sign * 0.15 * crop_w
    x0 = int(np.clip(centre_x - crop_w / 2, 0, width - crop_w))
    y0 = int(np.clip(head[1] - crop_h * 0.4, 0, height - crop_h))
    crop = image[y0 : y0 + round(crop_h), x0 : x0 + round(crop_w)]
    return np.asarray(cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC), np.uint8)


def back_view(rgb: Image, face: FaceBox, look: HairLook, rng: np.random.Generator) -> Image:
    """The back of the head in the style's hair, over the photo's background and clothes."""
    shape = rgb.shape
    canvas = np.empty(shape, np.float32)
    canvas[:] = _median_colour(_border(rgb))
    canvas *= np.linspace(1.04, 0.9, shape[0], dtype=np.float32)[:, None, None]
    skin = _median_colour(rgb[_rows(face, 0.45, 0.75, shape), _cols(face, 0.18, shape)])
    neck = geometry.neck(shape, face) & ~geometry.rows_below(shape, face.y + 3.2 * face.h)
    # The back of the neck is in the head's shadow.
    canvas = _paint(canvas, skin * 0.8, neck, face)
    torso = rgb[_rows(face, 2.2, 3.2, shape), _cols(face, 1.0, shape)]
    clothes = _median_colour(torso) if torso.size else canvas[-1, 0] * 0.6
    shade = np.linspace(1.1, 0.8, shape[0], dtype=np.float32)[:, None, None]
    canvas = _paint(canvas, clothes * shade, geometry.torso(shape, face), face)
    hair = _back_hair_mask(shape, face, look)
    colours = _back_hair(shape, face, look, hair, rng)
    alpha = feather(hair.astype(np.float32), face)[..., None]
    out = colours * alpha + canvas * (1.0 - alpha)
    return np.asarray(np.clip(out + 0.5, 0, 255), np.uint8)


def _back_hair_mask(shape: tuple[int, ...], face: FaceBox, look: HairLook) -> geometry.BoolMask:
    """The head from behind, cut at the nape by the style's length; long hair falls below."""
    head = geometry.ellipse(shape, face.cx, face.y + 0.42 * face.h, 0.84 * face.w, 0.95 * face.h)
    nape = face.y + (1.05 if look.length == "short" else 1.3) * face.h
    hair = head & ~geometry.rows_below(shape, nape)
    if look.length != "long":
        return hair
    w, h, cx, y = face.w, face.h, face.cx, face.y
    outline = [
        (cx - 0.82 * w, y + 0.4 * h),
        (cx + 0.82 * w, y + 0.4 * h),
        (cx + 1.05 * w, y + 2.4 * h),
        (cx + 0.7 * w, y + 2.65 * h),
        (cx, y + 2.75 * h),
        (cx - 0.7 * w, y + 2.65 * h),
        (cx - 1.05 * w, y + 2.4 * h),
    ]
    fall = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(fall, [np.round(np.array(outline)).astype(np.int32)], 1)
    return hair | fall.astype(np.bool_)


def _back_hair(
    shape: tuple[int, ...],
    face: FaceBox,
    look: HairLook,
    hair: geometry.BoolMask,
    rng: np.random.Generator,
) -> Field:
    """Hair falling from the crown: strands radiate from it, darker towards the head's rim."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    rows = np.flatnonzero(hair.any(axis=1))
    top, bottom = (int(rows[0]), int(rows[-1])) if rows.size else (0, shape[0] - 1)
    lab = np.empty((shape[0], shape[1], 3), np.float32)
    lab[..., 1:] = textures.gradient(shape[0], top, bottom, look.stops)[..., 1:]
    # Rounding: the head's outline curves away from the light.
    rim = ((xx - face.cx) / face.w) ** 2 + ((yy - face.y - 0.42 * face.h) / face.h) ** 2
    # Softer strands than the front's: seen from behind there is no light catching them.
    lightness = look.lightness + 0.6 * look.spread * _radial_strands(shape, face, rng)
    lightness += textures.shading(shape, face.w, look.texture, rng) - 12.0 * np.minimum(rim, 1.0)
    lab[..., 0] = np.clip(lightness, 0.0, 100.0)
    rgb = cv2.cvtColor(textures.bend(lab, face.w, look.texture, rng), cv2.COLOR_LAB2RGB)
    return np.asarray(np.clip(rgb, 0.0, 1.0) * 255.0, np.float32)


def _radial_strands(shape: tuple[int, ...], face: FaceBox, rng: np.random.Generator) -> Field:
    """Unit noise that is fine around the crown and long away from it: strands from a whorl."""
    crown_x, crown_y = face.cx, face.y - 0.1 * face.h
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    angle = np.arctan2(yy - crown_y, xx - crown_x)
    radius = np.hypot(yy - crown_y, xx - crown_x)
    coarse = rng.standard_normal((8, 360)).astype(np.float32)
    table = np.asarray(cv2.resize(coarse, (1440, 64), interpolation=cv2.INTER_CUBIC), np.float32)
    a_idx = ((angle + math.pi) / (2 * math.pi) * 1439).astype(np.int32)
    r_idx = np.clip(radius / (3.0 * face.h) * 63, 0, 63).astype(np.int32)
    noise = table[r_idx, a_idx]
    # Strands converge on the crown; fading them there avoids a starburst at the whorl.
    calm = np.clip(radius / (0.6 * face.h), 0.3, 1.0)
    return np.asarray(calm * (noise - noise.mean()) / max(float(noise.std()), 1e-6), np.float32)


def _paint(canvas: Field, colour: Field, mask: geometry.BoolMask, face: FaceBox) -> Field:
    alpha = feather(mask.astype(np.float32), face)[..., None]
    return np.asarray(colour * alpha + canvas * (1.0 - alpha), np.float32)


def _median_colour(pixels: Image) -> Field:
    return np.asarray(np.median(pixels.reshape(-1, 3), axis=0), np.float32)


def _border(rgb: Image) -> Image:
    return np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])


def _rows(face: FaceBox, start: float, stop: float, shape: tuple[int, ...]) -> slice:
    return slice(
        max(0, round(face.y + start * face.h)), min(shape[0], round(face.y + stop * face.h))
    )


def _cols(face: FaceBox, half: float, shape: tuple[int, ...]) -> slice:
    return slice(
        max(0, round(face.cx - half * face.w)), min(shape[1], round(face.cx + half * face.w))
    )
