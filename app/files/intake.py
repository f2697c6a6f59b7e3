"""The one door every image goes through before HairTryOn stores or uses it (SPEC §3, UP-01..04).

Order matters, each step refusing before the next one costs anything:
1. `read_capped` stops reading a body as soon as it passes the byte cap (UP-01);
2. the type comes from the magic bytes only: the client's file name and content type are
   never trusted (UP-02);
3. the pixel count is read from the file header and checked *before* Pillow allocates a
   canvas: a 12000x12000 PNG compresses to ~140 KiB but decodes to ~0.5 GB (UP-03); the
   decode itself is `app.core.imaging.decode_image`, the one decode of the process (UP-06);
4. a full decode proves the file is whole, then it is re-encoded with EXIF orientation applied
   and no metadata, so the copy we keep carries no GPS position (UP-04) and no polyglot payload.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from PIL import ExifTags, Image, ImageOps

from app.core.errors import AppError
from app.core.imaging import (
    DEFAULT_MAX_PIXELS,
    JPEG,
    PNG,
    WEBP,
    TooManyPixels,
    UndecodableImage,
    decode_image,
    sniff_image_type,
)
from app.files.exceptions import ImageTooLarge, InvalidImage, UnsupportedImageType

__all__ = [
    "ImagePolicy",
    "ProcessedImage",
    "process_image",
    "process_image_async",
    "read_capped",
    "sniff_image_type",
]


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
IMAGE_WORK = anyio.CapacityLimiter(1)  # also the share preview's (app/sharing)


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


def process_image(data: bytes, policy: ImagePolicy) -> ProcessedImage:
    """Check an image against `policy` and return a clean re-encoded copy (CPU-bound)."""
    if not data:
        raise InvalidImage("The file is empty.")
    if len(data) > policy.max_bytes:
        raise ImageTooLarge(f"The image is larger than the {_megabytes(policy.max_bytes)} limit.")
    content_type = sniff_image_type(data)
    if content_type is None or content_type not in policy.allowed_types:
        raise UnsupportedImageType()
    try:
        # decode_image checks the header's pixel count before Pillow sees the bytes.
        return _decode_and_reencode(data, content_type, policy)
    except AppError:
        raise
    except TooManyPixels as exc:
        raise ImageTooLarge(str(exc)) from exc
    except UndecodableImage as exc:
        raise InvalidImage() from exc
    except Exception as exc:
        # Damaged input that decoded but fails on orientation, conversion or re-encoding.
        raise InvalidImage() from exc


async def process_image_async(
    data: bytes, policy: ImagePolicy, *, limiter: anyio.CapacityLimiter | None = None
) -> ProcessedImage:
    """`process_image` in a worker thread, at most `limiter` images at once (default one)."""
    return await anyio.to_thread.run_sync(
        process_image, data, policy, limiter=limiter or IMAGE_WORK
    )


def _decode_and_reencode(data: bytes, content_type: str, policy: ImagePolicy) -> ProcessedImage:
    fmt = _FORMATS[content_type]
    # formats=[...]: only the plugin of the sniffed type may parse the bytes.
    with decode_image(data, max_pixels=policy.max_pixels, formats=[fmt.pillow_save]) as decoded:
        if decoded.format not in fmt.pillow_names:
            raise InvalidImage("The file content does not match its image type.")
        icc_profile = decoded.info.get("icc_profile") if decoded.mode != "CMYK" else None
        # Encoded while the decoded image is open: no copy of its pixels (36 MB at 12 MP)
        # unless the orientation or the mode has to change.
        image = _to_storable_mode(_apply_orientation(decoded), content_type)
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
    """Rotated as the EXIF Orientation says: a new image, or `image` itself when it is upright."""
    try:
        if image.getexif().get(ExifTags.Base.Orientation, 1) == 1:
            return image
        return ImageOps.exif_transpose(image)
    except Exception:
        # Damaged EXIF must not cost the user a photo that decoded fine: the metadata is
        # dropped on re-encode anyway, so keep the pixels as they are.
        return image


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


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"
