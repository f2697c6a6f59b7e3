"""Bytes in and out of the local generator: decoding, the preview label, JPEG encoding."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from app.core.imaging import TooManyPixels, UndecodableImage, decode_image

__all__ = ["JPEG_CONTENT_TYPE", "TooManyPixels", "UndecodableImage", "decode_rgb", "encode_jpeg"]

JPEG_CONTENT_TYPE = "image/jpeg"
_JPEG_QUALITY = 90
_WHITE = (255, 255, 255, 255)


def decode_rgb(data: bytes, max_side: int, max_pixels: int) -> npt.NDArray[np.uint8]:
    """The image as an RGB array whose longer side is at most `max_side`.

    Raises `TooManyPixels` (nothing decoded) or `UndecodableImage`. EXIF orientation is
    applied at upload (image intake), so it is not looked at here. Transparent images are
    flattened onto white, the way a browser shows them.
    """
    # draft_size: JPEG decodes straight at a reduced scale (DCT scaling), much faster for
    # large phone photos; a no-op for other formats. The pixel cap applies to the full size.
    with decode_image(data, max_pixels=max_pixels, draft_size=max_side) as image:
        try:
            rgb = _flatten(image)
        except (OSError, ValueError) as exc:
            raise UndecodableImage(str(exc)) from exc
    if max(rgb.size) > max_side:
        factor = max_side / max(rgb.size)
        size = (max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    return np.array(rgb, dtype=np.uint8)


def _flatten(image: Image.Image) -> Image.Image:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, _WHITE)
    return Image.alpha_composite(background, rgba).convert("RGB")


def encode_jpeg(rgb: npt.NDArray[np.uint8], label: str) -> bytes:
    """JPEG bytes of the image with `label` in a small tag in the bottom-right corner."""
    image = Image.fromarray(rgb, "RGB")
    _stamp(image, label)
    buffer = io.BytesIO()
    # The comment marks the file itself as a local preview, wherever it ends up.
    image.save(buffer, "JPEG", quality=_JPEG_QUALITY, comment=f"HairTryOn local {label}")
    return buffer.getvalue()


def _stamp(image: Image.Image, label: str) -> None:
    # Small and translucent: it must say "preview" without spoiling the try-on.
    size = max(10, round(min(image.size) / 36))
    font = ImageFont.load_default(size=size)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    width, height = _text_size(draw, label, font)
    pad = max(3, size // 3)
    x = image.width - width - 3 * pad
    y = image.height - height - 3 * pad
    draw.rounded_rectangle(
        (x - pad, y - pad, x + width + pad, y + height + pad), radius=pad, fill=(0, 0, 0, 96)
    )
    _draw_text(draw, (x, y), label, font, height)
    image.paste(overlay, (0, 0), overlay)


# Pillow's embedded font has no dashes, so an em dash is drawn as a bar between the words.
_DASH = "\u2014"
_INK = (255, 255, 255, 200)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _text_size(draw: ImageDraw.ImageDraw, label: str, font: Font) -> tuple[int, int]:
    parts = label.split(_DASH)
    widths = [draw.textlength(part, font=font) for part in parts]
    dash = _dash_width(font)
    _, top, _, bottom = draw.textbbox((0, 0), label.replace(_DASH, "-"), font=font, anchor="lt")
    return round(sum(widths) + dash * (len(parts) - 1)), round(bottom - top)


def _draw_text(
    draw: ImageDraw.ImageDraw, at: tuple[int, int], label: str, font: Font, height: int
) -> None:
    x, y = float(at[0]), float(at[1])
    dash = _dash_width(font)
    thickness = max(1, round(height / 10))
    for index, part in enumerate(label.split(_DASH)):
        if index:
            mid = y + height * 0.55
            draw.rectangle((x, mid, x + dash - 1, mid + thickness - 1), fill=_INK)
            x += dash
        draw.text((x, y), part, font=font, fill=_INK, anchor="lt")
        x += draw.textlength(part, font=font)


def _dash_width(font: Font) -> float:
    return float(font.getlength("M")) * 0.9
