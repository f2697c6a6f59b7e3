"""UP-06: the generator decodes through the same pixel cap as the intake (issue 9, defect 4).

A 12 KB PNG declaring 100 megapixels was refused by the intake but decoded whole by the
generator (115 → 605 MB). Checked by behaviour: an image above the cap is refused, and a file
whose header alone declares too many pixels is refused as too large, not as unreadable, which
it could only be if the decoder had tried to read its (missing) pixel data.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from app.integrations.generator import GenerationFailed, LocalGenerator
from tests.integrations.generator.images import encode, request


def _header_only_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _photo(width: int, height: int) -> bytes:
    rng = np.random.default_rng(1)
    return encode(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), "PNG")


async def test_up06_generator_refuses_an_image_above_its_pixel_cap() -> None:
    generator = LocalGenerator(max_pixels=100_000)
    photo = _photo(400, 300)  # 120 000 pixels

    with pytest.raises(GenerationFailed) as generated:
        await generator.generate(request(photo))

    assert generated.value.code == "GENERATION_FAILED"
    assert not generated.value.retryable
    assert "pixels" in generated.value.message


async def test_up06_generator_refuses_a_declared_bomb_before_decoding_it() -> None:
    bomb = _header_only_png(10_000, 10_000)  # 100 MP declared, no pixel data at all

    with pytest.raises(GenerationFailed) as failed:
        await LocalGenerator().generate(request(bomb))

    assert "pixels" in failed.value.message


async def test_up06_generator_accepts_an_image_at_its_pixel_cap() -> None:
    generator = LocalGenerator(max_pixels=120_000)
    # Decoded whole and searched: the noise photo fails only for having no face.
    with pytest.raises(GenerationFailed) as failed:
        await generator.generate(request(_photo(400, 300)))
    assert failed.value.code == "NO_FACE_DETECTED"
