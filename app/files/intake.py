"""The one door every image goes through before HairTryOn stores or uses it (SPEC §3, UP-01..04).

Order matters, each step refusing before the next one costs anything:
1. `read_capped` stops reading a body as soon as it passes the byte cap (UP-01);
2. the type comes from the magic bytes only: the client's file name and content type are
   never trusted (UP-02);
3. the pixel count is read from the file header and checked *before* Pillow allocates a
   canvas: a 12000x12000 PNG compresses to ~140 KiB but decodes to ~0.5 GB (UP-03);
4. a full decode proves the file is whole, then it is re-encoded with EXIF orientation applied
   and no metadata, so the copy we keep carries no GPS position (UP-04) and no polyglot payload.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from PIL import Image, ImageOps

from app.core.errors import AppError
from app.files.exceptions import ImageTooLarge, InvalidImage, UnsupportedImageType

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
GIF = "image/gif"

DEFAULT_MAX_PIXELS = 40_000_000


@dataclass(frozen=True, slots=True)
class _Format:
    pillow_names: frozenset[str]  # what Pillow may report for this type after opening
    pillow_save: str
    extension: str


_FORMATS: dict[str, _Format] = {
    # Pillow opens JPEGs carrying a multi-picture index (many phone cameras) as "MPO".
    JPEG: _Format(frozenset({"JPEG", "MPO"}), "JPEG", "jpg"),
    PNG: _Format(frozenset({"PNG"}), "PNG", "png"),
    WEBP: _Format(frozenset({"WEBP"}), "WEBP", "webp"),
}

# Image work is CPU- and memory-heavy (a 40 MP decode holds ~160 MB). One image at a time per
# process keeps the event loop and the other core responsive and bounds peak memory; the same
# reasoning that caps password hashing at one (RELIABILITY.md).
_IMAGE_WORK = anyio.CapacityLimiter(1)


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    max_bytes: int
    max_pixels: int = DEFAULT_MAX_PIXELS
    allowed_types: tuple[str, ...] = (JPEG, PNG, WEBP)

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("max_bytes and max_pixels must be positive")
        unknown = set(self.allowed_types) - _FORMATS.keys()
        if unknown:
            raise ValueError(f"no re-encoder for {sorted(unknown)}")
        # Pillow's own bomb guard stays on as a second net; a policy above it could never be
        # reached (the guard would refuse first), so say so at start-up instead of at upload.
        pillow_cap = Image.MAX_IMAGE_PIXELS
        if pillow_cap is not None and self.max_pixels > pillow_cap:
            raise ValueError(f"max_pixels exceeds Pillow's MAX_IMAGE_PIXELS ({pillow_cap})")


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


async def read_capped(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Collect a body, refusing it the moment it passes `limit` bytes (the rest is never read)."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            # Close the source now rather than at garbage collection: for a request stream this
            # stops pulling the remaining megabytes off the socket.
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
            raise ImageTooLarge(f"The image is larger than the {_megabytes(limit)} limit.")
    return bytes(buffer)


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


def process_image(data: bytes, policy: ImagePolicy) -> ProcessedImage:
    """Check an image against `policy` and return a clean re-encoded copy (CPU-bound)."""
    if not data:
        raise InvalidImage("The file is empty.")
    if len(data) > policy.max_bytes:
        raise ImageTooLarge(f"The image is larger than the {_megabytes(policy.max_bytes)} limit.")
    content_type = sniff_image_type(data)
    if content_type is None or content_type not in policy.allowed_types:
        raise UnsupportedImageType()
    dimensions = read_dimensions(data, content_type)
    if dimensions is not None:
        _check_pixels(*dimensions, policy)
    try:
        return _decode_and_reencode(data, content_type, policy)
    except AppError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge("The image has too many pixels.") from exc
    except Exception as exc:
        # Pillow's plugins raise whatever the damaged input provokes (OSError, SyntaxError,
        # struct.error, ValueError, IndexError, ...): all of them mean "not a valid image".
        raise InvalidImage() from exc


async def process_image_async(
    data: bytes, policy: ImagePolicy, *, limiter: anyio.CapacityLimiter | None = None
) -> ProcessedImage:
    """`process_image` in a worker thread, at most `limiter` images at once (default one)."""
    return await anyio.to_thread.run_sync(
        process_image, data, policy, limiter=limiter or _IMAGE_WORK
    )


def _decode_and_reencode(data: bytes, content_type: str, policy: ImagePolicy) -> ProcessedImage:
    fmt = _FORMATS[content_type]
    # catch_warnings is process-global state, so a concurrent thread could briefly undo this
    # filter. It is a second net only: the per-call limit is our own size check below (and the
    # header check before it), which never depends on warnings. We deliberately do not lower
    # Image.MAX_IMAGE_PIXELS per call: it is a module global shared by every thread.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        # formats=[...]: only the plugin of the sniffed type may parse the bytes.
        with Image.open(io.BytesIO(data), formats=[fmt.pillow_save]) as opened:
            if opened.format not in fmt.pillow_names:
                raise InvalidImage("The file content does not match its image type.")
            _check_pixels(*opened.size, policy)
            opened.load()  # full decode: truncated or corrupt data fails here
            icc_profile = opened.info.get("icc_profile") if opened.mode != "CMYK" else None
            image = _apply_orientation(opened)
    image = _to_storable_mode(image, content_type)
    # Drop every piece of metadata (EXIF with GPS, XMP, comments, text chunks); only the
    # colour profile is carried over, explicitly, because colours depend on it.
    image.info = {}
    output = io.BytesIO()
    image.save(output, fmt.pillow_save, **_save_options(content_type, icc_profile))
    return ProcessedImage(
        data=output.getvalue(),
        content_type=content_type,
        extension=fmt.extension,
        width=image.width,
        height=image.height,
    )


def _apply_orientation(image: Image.Image) -> Image.Image:
    """Rotate as the EXIF Orientation says; a copy of the decoded image in any case."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        # Damaged EXIF must not cost the user a photo that decoded fine: the metadata is
        # dropped on re-encode anyway, so keep the pixels as they are.
        return image.copy()


def _to_storable_mode(image: Image.Image, content_type: str) -> Image.Image:
    """Convert to a mode the target format stores faithfully (JPEG: no alpha, no CMYK)."""
    if content_type == JPEG:
        target = image.mode if image.mode in ("L", "RGB") else "RGB"
    elif image.has_transparency_data:
        # Converting also folds a palette's or a colour key's transparency into alpha,
        # which matters because that information lives in `info`, cleared afterwards.
        target = image.mode if image.mode in ("LA", "RGBA") else "RGBA"
    else:
        target = image.mode if image.mode in ("L", "RGB") else "RGB"
    return image if image.mode == target else image.convert(target)


def _save_options(content_type: str, icc_profile: object) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if isinstance(icc_profile, bytes) and icc_profile:
        options["icc_profile"] = icc_profile
    if content_type == JPEG:
        options["quality"] = 90
    elif content_type == WEBP:
        options["quality"] = 90
        options["method"] = 4
    return options


def _check_pixels(width: int, height: int, policy: ImagePolicy) -> None:
    if width * height > policy.max_pixels:
        raise ImageTooLarge(
            f"The image has {width}x{height} pixels; the limit is {policy.max_pixels:,} pixels."
        )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


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
