"""UP-01..04: the image intake refuses early, sniffs content, survives bombs and strips metadata."""

from __future__ import annotations

import asyncio
import io
import random
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from PIL import Image, ImageCms, ImageFile, PngImagePlugin

from app.core.errors import AppError
from app.files.exceptions import ImageTooLarge, InvalidImage, UnsupportedImageType
from app.files.intake import (
    ImagePolicy,
    process_image,
    process_image_async,
    read_capped,
    sniff_image_type,
)
from tests.loop_probe import LoopProbe

MiB = 1024 * 1024
CHUNK = 64 * 1024
POLICY = ImagePolicy(max_bytes=10 * MiB)


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    """A small image with real detail, so that encoders produce non-trivial data."""
    noise = Image.effect_noise(size, 40)
    return Image.merge("RGB", (noise, noise.rotate(90), noise)).convert(mode)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _zero_rows(width: int, height: int) -> Iterator[bytes]:
    """The raw scanlines of an all-black 8-bit RGB PNG, in pieces of at most ~1 MiB."""
    row_length = 1 + 3 * width  # filter byte + RGB samples
    if row_length <= MiB:
        rows_per_piece = MiB // row_length
        piece = bytes(row_length * rows_per_piece)
        full, rest = divmod(height, rows_per_piece)
        for _ in range(full):
            yield piece
        yield bytes(row_length * rest)
        return
    zeros = bytes(MiB)
    for _ in range(height):
        full, rest = divmod(row_length, MiB)
        for _ in range(full):
            yield zeros
        yield bytes(rest)


def _png_bomb(width: int, height: int) -> bytes:
    """A valid RGB PNG of zeros written by hand: tiny on disk, `width*height*4` bytes decoded."""
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(piece) for piece in _zero_rows(width, height))
    idat += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


@pytest.fixture
def pixel_decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, tuple[int, int]]]:
    """Every full pixel decode Pillow does during the test (format, size), in order. Memory is
    what a decode costs, so "refused before decoding" is the bounded-memory promise checked by
    what happens rather than by RSS (the RSS figures are in bench/)."""
    decodes: list[tuple[str | None, tuple[int, int]]] = []
    original = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile) -> Any:
        decodes.append((self.format, self.size))
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return decodes


# --- UP-01: bodies are refused as soon as they pass the cap ---------------------------------


async def test_up01_read_capped_stops_early() -> None:
    limit = 10 * MiB
    consumed = 0
    closed = False

    async def fifty_mib() -> AsyncIterator[bytes]:
        nonlocal consumed, closed
        chunk = bytes(CHUNK)
        try:
            for _ in range(50 * MiB // CHUNK):
                consumed += len(chunk)
                yield chunk
        finally:
            closed = True

    with pytest.raises(ImageTooLarge):
        await read_capped(fifty_mib(), limit)

    assert consumed <= limit + CHUNK
    assert closed, "the source stream must be closed, not left to the garbage collector"


async def test_up01_read_capped_accepts_a_body_exactly_at_the_cap() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 6
        yield b"b" * 4

    assert await read_capped(body(), 10) == b"a" * 6 + b"b" * 4


def test_up01_oversized_bytes_are_refused_before_decoding() -> None:
    data = _encode(_photo(), "PNG")
    with pytest.raises(ImageTooLarge):
        process_image(data, ImagePolicy(max_bytes=len(data) - 1))


# --- UP-02: content decides the type; everything else is a 415/422 --------------------------


def test_up02_png_named_jpg_is_handled_by_content() -> None:
    # The intake has no parameter for the client's name or content type: a PNG uploaded as
    # "selfie.jpg" (image/jpeg) is a PNG because its bytes say so.
    data = _encode(_photo(), "PNG")

    result = process_image(data, POLICY)

    assert sniff_image_type(data) == "image/png"
    assert (result.content_type, result.extension) == ("image/png", "png")
    assert Image.open(io.BytesIO(result.data)).format == "PNG"


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("JPEG", "image/jpeg", "jpg"), ("PNG", "image/png", "png"), ("WEBP", "image/webp", "webp")],
)
def test_up02_allowed_types_are_accepted_and_reencoded_as_themselves(
    fmt: str, content_type: str, extension: str
) -> None:
    result = process_image(_encode(_photo((64, 48)), fmt), POLICY)

    assert (result.content_type, result.extension) == (content_type, extension)
    assert (result.width, result.height) == (64, 48)
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.format == fmt
        assert stored.size == (64, 48)


def _bad_file_zoo() -> list[tuple[str, bytes, type[AppError]]]:
    jpeg = _encode(_photo((200, 150)), "JPEG")
    png = _encode(_photo((200, 150)), "PNG")
    html = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
    return [
        ("gif", _encode(_photo(), "GIF"), UnsupportedImageType),
        (
            "svg",
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
            b"<script>alert(1)</script></svg>",
            UnsupportedImageType,
        ),
        ("html", html, UnsupportedImageType),
        (
            "pdf",
            b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n",
            UnsupportedImageType,
        ),
        ("text", b"just some text, named photo.png", UnsupportedImageType),
        ("random-bytes", random.Random(7).randbytes(4096), UnsupportedImageType),
        # HTML first, a real PNG appended: browsers would sniff HTML, so must we.
        ("html-png-polyglot", html + png, UnsupportedImageType),
        # JPEG magic with an HTML body: passes a naive magic check, fails the decode.
        ("jpeg-magic-html-body", b"\xff\xd8\xff\xe0" + html, InvalidImage),
        ("png-signature-only", b"\x89PNG\r\n\x1a\n", InvalidImage),
        ("empty", b"", InvalidImage),
        ("truncated-jpeg", jpeg[: len(jpeg) // 2], InvalidImage),
        ("truncated-png", png[: len(png) // 2], InvalidImage),
        ("truncated-webp", _encode(_photo((200, 150)), "WEBP")[:60], InvalidImage),
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [pytest.param(data, error, id=name) for name, data, error in _bad_file_zoo()],
)
async def test_up02_bad_file_zoo_is_rejected_never_500(data: bytes, error: type[AppError]) -> None:
    with pytest.raises(AppError) as caught:
        await process_image_async(data, POLICY)

    assert type(caught.value) is error
    assert caught.value.status_code == {UnsupportedImageType: 415, InvalidImage: 422}[error]


def test_up02_types_outside_the_policy_are_unsupported() -> None:
    with pytest.raises(UnsupportedImageType):
        process_image(
            _encode(_photo(), "PNG"), ImagePolicy(max_bytes=MiB, allowed_types=("image/jpeg",))
        )


def test_up02_valid_image_polyglots_lose_their_payload() -> None:
    """A real image carrying a payload (HTML in a JPEG comment, a zip after a PNG's IEND) is
    accepted — phones append trailers to genuine photos — but the stored copy is re-encoded
    from pixels, so the payload never reaches storage."""
    payload_zip = b"PK\x03\x04" + b"<script>alert(1)</script>" * 10
    html = b"<html><script>alert(1)</script></html>"
    jpeg = _encode(_photo(), "JPEG", comment=html) + html
    png = _encode(_photo(), "PNG") + payload_zip

    for data in (jpeg, png):
        stored = process_image(data, POLICY).data
        assert b"<script>" not in stored
        assert b"PK\x03\x04" not in stored


def test_up02_multi_picture_jpeg_is_accepted_as_jpeg() -> None:
    # Pillow reports JPEGs with an MPF index (common from phone cameras) as "MPO".
    first, second = _photo(), _photo().rotate(180)
    data = _encode(first, "MPO", save_all=True, append_images=[second])

    result = process_image(data, POLICY)

    assert (result.content_type, result.extension) == ("image/jpeg", "jpg")
    assert Image.open(io.BytesIO(result.data)).format == "JPEG"


@pytest.mark.parametrize(
    ("source_mode", "fmt", "stored_mode"),
    [
        ("CMYK", "JPEG", "RGB"),
        ("L", "JPEG", "L"),
        ("P", "PNG", "RGB"),
        ("LA", "PNG", "LA"),
        ("I;16", "PNG", "RGB"),
        ("1", "PNG", "RGB"),
        ("RGBA", "WEBP", "RGBA"),
    ],
)
def test_up02_image_modes_are_stored_in_a_mode_the_format_keeps(
    source_mode: str, fmt: str, stored_mode: str
) -> None:
    image = _photo(mode=source_mode)
    if "A" in image.mode:
        image.putalpha(128)  # encoders drop an alpha channel that is fully opaque
    result = process_image(_encode(image, fmt), POLICY)

    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.mode == stored_mode


def test_up02_palette_transparency_survives_as_alpha() -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([255, 0, 0, 0, 0, 255])
    image.putpixel((0, 0), 1)
    data = _encode(image, "PNG", transparency=0)

    with Image.open(io.BytesIO(process_image(data, POLICY).data)) as stored:
        assert stored.mode == "RGBA"
        assert stored.getpixel((0, 0)) == (0, 0, 255, 255)
        assert stored.getpixel((1, 1)) == (255, 0, 0, 0)


# --- UP-03: decompression bombs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [(12_000, 12_000), (1, 80_000_000), (80_000_000, 1)],
    ids=["12000x12000", "1x80M", "80Mx1"],
)
def test_up03_decompression_bombs_are_refused_before_decoding(
    width: int, height: int, pixel_decodes: list[tuple[str | None, tuple[int, int]]]
) -> None:
    bomb = _png_bomb(width, height)
    assert len(bomb) < 1 * MiB  # a tiny upload...
    policy = ImagePolicy(max_bytes=10 * MiB)  # ...well under the byte cap

    with pytest.raises(ImageTooLarge):
        process_image(bomb, policy)

    # Decoded, these would take 320-576 MB (Pillow keeps RGB as 4 bytes a pixel): not one
    # pixel may be decoded.
    assert pixel_decodes == []


def test_the_decode_spy_sees_an_accepted_image_decoded(
    pixel_decodes: list[tuple[str | None, tuple[int, int]]],
) -> None:
    """Control for the UP-03 tests: an image that is accepted is decoded, and the spy sees it."""
    process_image(_encode(_photo(), "PNG"), POLICY)

    assert ("PNG", (64, 48)) in pixel_decodes


def _patch_jpeg_frame_size(data: bytes, width: int, height: int) -> bytes:
    start = data.index(b"\xff\xc0")  # baseline start-of-frame
    return data[: start + 5] + struct.pack(">HH", height, width) + data[start + 9 :]


def _patch_webp_lossless_size(data: bytes, width: int, height: int) -> bytes:
    assert data[12:16] == b"VP8L"
    (bits,) = struct.unpack("<I", data[21:25])
    bits = (bits & ~0xFFFFFFF) | (width - 1) | ((height - 1) << 14)
    return data[:21] + struct.pack("<I", bits) + data[25:]


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(
            _patch_jpeg_frame_size(_encode(_photo(), "JPEG"), 60_000, 60_000), id="jpeg-60000^2"
        ),
        pytest.param(
            _patch_webp_lossless_size(_encode(_photo(), "WEBP", lossless=True), 16_383, 16_383),
            id="webp-16383^2",
        ),
    ],
)
def test_up03_header_dimensions_are_checked_before_decoding(
    bomb: bytes, pixel_decodes: list[tuple[str | None, tuple[int, int]]]
) -> None:
    with pytest.raises(ImageTooLarge):
        process_image(bomb, POLICY)

    assert pixel_decodes == []


def test_up03_pixel_cap_comes_from_the_policy() -> None:
    data = _encode(_photo((100, 100)), "PNG")

    assert process_image(data, ImagePolicy(max_bytes=MiB, max_pixels=10_000)).width == 100
    with pytest.raises(ImageTooLarge):
        process_image(data, ImagePolicy(max_bytes=MiB, max_pixels=9_999))
    assert Image.MAX_IMAGE_PIXELS == 89_478_485, "the intake must not change Pillow's global"


def test_up03_policy_above_pillows_guard_is_refused_at_startup() -> None:
    assert Image.MAX_IMAGE_PIXELS is not None
    with pytest.raises(ValueError, match="MAX_IMAGE_PIXELS"):
        ImagePolicy(max_bytes=MiB, max_pixels=Image.MAX_IMAGE_PIXELS + 1)
    with pytest.raises(ValueError, match="re-encoder"):
        ImagePolicy(max_bytes=MiB, allowed_types=("image/gif",))


# --- UP-04: metadata stripped, orientation applied ------------------------------------------


def _exif_with_gps_and_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)  # GPSInfo
    gps[1] = "N"  # GPSLatitudeRef
    gps[2] = (48.0, 51.0, 29.0)  # GPSLatitude
    gps[3] = "E"
    gps[4] = (2.0, 17.0, 40.0)
    return exif


def _rgb(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    pixel = image.convert("RGB").getpixel(xy)
    assert isinstance(pixel, tuple)
    return tuple(int(channel) for channel in pixel)


def _assert_no_metadata(stored: bytes) -> None:
    with Image.open(io.BytesIO(stored)) as image:
        assert not image.getexif(), "EXIF must be gone"
        assert not {"exif", "xmp", "XML:com.adobe.xmp", "comment", "Comment"} & set(image.info)
    assert b"Exif\x00\x00" not in stored
    assert b"PhoneMaker" not in stored
    assert b"x:xmpmeta" not in stored


def test_up04_gps_exif_is_stripped_and_orientation_applied() -> None:
    # Stored sideways, as phones do: 40 wide, 20 high, left half red, right half blue.
    image = Image.new("RGB", (40, 20), "blue")
    image.paste("red", (0, 0, 20, 20))
    exif = _exif_with_gps_and_orientation(6)  # "rotate 90° clockwise to display"
    data = _encode(image, "JPEG", exif=exif, quality=95)
    assert b"PhoneMaker" in data

    result = process_image(data, POLICY)

    _assert_no_metadata(result.data)
    assert (result.width, result.height) == (20, 40)
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.size == (20, 40)
        top, bottom = _rgb(stored, (10, 5)), _rgb(stored, (10, 35))
    # The red left half must end on top: the wrong rotation direction would put it below.
    assert top[0] > 200
    assert top[2] < 60
    assert bottom[2] > 200
    assert bottom[0] < 60


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_up04_exif_and_xmp_are_stripped_from_png_and_webp(fmt: str) -> None:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    exif = _exif_with_gps_and_orientation(8)
    if fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_itxt("XML:com.adobe.xmp", xmp.decode())
        data = _encode(_photo((40, 20)), fmt, exif=exif, pnginfo=text)
    else:
        data = _encode(_photo((40, 20)), fmt, exif=exif, xmp=xmp)
    assert b"PhoneMaker" in data
    assert b"x:xmpmeta" in data

    result = process_image(data, POLICY)

    _assert_no_metadata(result.data)
    assert (result.width, result.height) == (20, 40)


def test_up04_colour_profile_is_kept() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = _encode(_photo(), "JPEG", icc_profile=icc)

    with Image.open(io.BytesIO(process_image(data, POLICY).data)) as stored:
        assert stored.info.get("icc_profile") == icc


# --- the worker thread ----------------------------------------------------------------------


def _probe_pillow(monkeypatch: pytest.MonkeyPatch, patience: float = 30.0) -> LoopProbe:
    probe = LoopProbe(monkeypatch, asyncio.get_running_loop(), patience)
    probe.wrap(Image, "open")  # parsing starts here...
    probe.wrap(ImageFile.ImageFile, "load")  # ...the pixels are decoded here...
    probe.wrap(Image.Image, "save")  # ...and re-encoded here
    return probe


async def test_image_work_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing, decoding and re-encoding all run in a worker thread: the loop serves other
    work while each of them is in progress."""
    data = _encode(_photo((640, 480)), "JPEG", quality=90)
    probe = _probe_pillow(monkeypatch)

    result = await process_image_async(data, POLICY)

    assert result.width == 640
    assert {name for name, _, _ in probe.calls} == {"open", "load", "save"}
    assert all(probe.served()), probe.calls


async def test_the_loop_probe_sees_image_work_done_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Control: the same probe fails when the image work runs inline on the event loop."""
    data = _encode(_photo(), "JPEG")
    probe = _probe_pillow(monkeypatch, patience=0.2)

    process_image(data, POLICY)  # deliberately blocking: what process_image_async prevents

    assert {name for name, _, _ in probe.calls} == {"open", "load", "save"}
    assert not any(probe.served())
