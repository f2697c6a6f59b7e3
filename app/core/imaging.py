"""The one place in the process where image bytes become pixels (UP-03, UP-06).

Every decode (the upload intake, the face check, the generator) goes through `decode_image`,
so a decompression bomb is refused the same way wherever it arrives: a 12 KB PNG can declare
100 megapixels and decode to 0.5 GB. The pixel count is checked three times, each before any
pixel memory is allocated:

1. from the file header, parsed by hand (`read_dimensions`), before Pillow sees the bytes;
2. by Pillow's own guard while it opens the file, its `DecompressionBombWarning` raised as an
   error (no "warn and decode anyway");
3. on the size Pillow reports, against the caller's cap and Pillow's, whichever is lower, so
   the rule holds even when another thread's `catch_warnings` briefly changed the filters
   (they are process-global).
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterable

from PIL import Image

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
GIF = "image/gif"

DEFAULT_MAX_PIXELS = 40_000_000
# The formats our storage holds (intake re-encodes into these); no other Pillow plugin may
# parse bytes in this process.
STORED_FORMATS = ("JPEG", "PNG", "WEBP")


class UndecodableImage(ValueError):
    """The bytes are not an image of an allowed format that decodes whole."""


class TooManyPixels(ValueError):
    """The image declares more pixels than allowed; nothing was decoded."""

    def __init__(self, width: int, height: int, limit: int) -> None:
        size = f"{width}x{height} pixels" if width and height else "too many pixels"
        super().__init__(f"The image has {size}; the limit is {limit:,} pixels.")
        self.width = width
        self.height = height
        self.limit = limit


def decode_image(
    data: bytes,
    *,
    max_pixels: int,
    formats: Iterable[str] = STORED_FORMATS,
    draft_size: int | None = None,
) -> Image.Image:
    """The fully decoded image (close it when done), or `TooManyPixels` / `UndecodableImage`.

    `formats` are Pillow format names that may parse the bytes. `draft_size` lets JPEG decode
    straight at a reduced scale (DCT scaling) whose longer side is about that many pixels.
    """
    limit = _effective_limit(max_pixels)
    content_type = sniff_image_type(data)
    declared = read_dimensions(data, content_type) if content_type else None
    if declared is not None:
        check_pixels(*declared, limit)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(formats))
            try:
                check_pixels(*image.size, limit)
                if draft_size is not None:
                    image.draft("RGB", (draft_size, draft_size))
                image.load()
            except BaseException:
                image.close()
                raise
    except TooManyPixels:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooManyPixels(*_declared_or_zero(declared), limit) from exc
    except Exception as exc:
        # Pillow's plugins raise whatever damaged input provokes (OSError, SyntaxError,
        # struct.error, ValueError, IndexError, ...): all of them mean "not a valid image".
        raise UndecodableImage(str(exc) or type(exc).__name__) from exc
    return image


def check_pixels(width: int, height: int, limit: int) -> None:
    if width * height > limit:
        raise TooManyPixels(width, height, limit)


def sniff_image_type(data: bytes) -> str | None:
    """The image type by magic bytes alone. GIF is recognised so that it can be refused."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    return None


def read_dimensions(data: bytes, content_type: str) -> tuple[int, int] | None:
    """(width, height) from the header, without decoding; None if the header can't be read."""
    if content_type == PNG:
        return _png_dimensions(data)
    if content_type == WEBP:
        return _webp_dimensions(data)
    if content_type == JPEG:
        return _jpeg_dimensions(data)
    return None


def _effective_limit(max_pixels: int) -> int:
    if max_pixels <= 0:
        raise ValueError("max_pixels must be positive")
    pillow_cap = Image.MAX_IMAGE_PIXELS
    return max_pixels if pillow_cap is None else min(max_pixels, pillow_cap)


def _declared_or_zero(declared: tuple[int, int] | None) -> tuple[int, int]:
    return declared if declared is not None else (0, 0)


def _png_dimensions(data: bytes) -> tuple[int, int] | None:
    # IHDR must be the first chunk: signature (8) + length (4) + b"IHDR" + width + height.
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _webp_dimensions(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (int(bits) & 0x3FFF) + 1, ((int(bits) >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """Walk the marker segments up to the first start-of-frame (before any scan data)."""
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
        elif marker in _JPEG_STANDALONE:
            offset += 2
        elif marker in _JPEG_SOF:
            if offset + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return int(width), int(height)
        elif marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        else:
            (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
            offset += 2 + int(length)
    return None
