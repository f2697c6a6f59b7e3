"""UP-06: every decode in the process goes through `app.core.imaging.decode_image`, which
refuses a bomb before allocating its pixels (issue 9, defect 4)."""

from __future__ import annotations

import ast
import io
import struct
import zlib

import pytest
from PIL import Image

from app.core.config import PROJECT_ROOT
from app.core.imaging import TooManyPixels, UndecodableImage, decode_image

DECODER = PROJECT_ROOT / "app" / "core" / "imaging.py"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _header_only_png(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixel data: decoding it can only fail, so a
    refusal as *too many pixels* proves the size was checked before any decode."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IEND", b"")


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_up06_declared_size_over_the_cap_is_refused_before_decoding() -> None:
    with pytest.raises(TooManyPixels) as refused:
        decode_image(_header_only_png(10_000, 10_000), max_pixels=40_000_000)
    assert (refused.value.width, refused.value.height) == (10_000, 10_000)


def test_up06_pillows_bomb_guard_is_an_error_not_a_warning() -> None:
    # Above Pillow's MAX_IMAGE_PIXELS (89.5 M) but below twice it, where Pillow only warns and
    # would go on decoding; a caller cap above Pillow's does not lift it.
    pillow_cap = Image.MAX_IMAGE_PIXELS
    assert pillow_cap is not None
    width = 10_000
    height = pillow_cap // width + 1
    with pytest.raises(TooManyPixels):
        decode_image(_header_only_png(width, height), max_pixels=2 * pillow_cap)


def test_up06_cap_applies_to_the_decoded_size_too() -> None:
    data = _png(200, 100)
    with decode_image(data, max_pixels=20_000) as image:
        assert image.size == (200, 100)
    with pytest.raises(TooManyPixels):
        decode_image(data, max_pixels=19_999)


def test_up06_formats_outside_the_list_are_not_parsed() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "BMP")
    with pytest.raises(UndecodableImage):
        decode_image(buffer.getvalue(), max_pixels=1_000)


def test_up06_header_only_image_within_the_cap_is_undecodable() -> None:
    with pytest.raises(UndecodableImage):
        decode_image(_header_only_png(100, 100), max_pixels=1_000_000)


def _opens_images(tree: ast.AST) -> bool:
    """Whether the module calls `Image.open`, OpenCV's `imdecode`/`imread`, or imports them."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"open", "imdecode", "imread"}:
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in {"Image", "cv2"}:
                return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module in {"PIL.Image", "cv2"}
            and any(alias.name in {"open", "imdecode", "imread"} for alias in node.names)
        ):
            return True
    return False


def test_up06_decode_image_is_the_only_decoder_in_the_app() -> None:
    decoders = sorted(
        str(path.relative_to(PROJECT_ROOT))
        for path in (PROJECT_ROOT / "app").rglob("*.py")
        if _opens_images(ast.parse(path.read_text()))
    )
    assert decoders == ["app/core/imaging.py"]


def test_the_decoder_scan_sees_a_direct_open() -> None:
    assert _opens_images(ast.parse("from PIL import Image\nImage.open(b)\n"))
    assert _opens_images(ast.parse("import cv2\ncv2.imdecode(b, 1)\n"))
    assert not _opens_images(ast.parse("open('x')\n"))
