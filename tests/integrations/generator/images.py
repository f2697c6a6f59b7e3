"""Test images and requests for the generator: the portrait (one frontal face), faceless
synthetic photos, and decoding/encoding helpers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.integrations.generator import GenerationRequest, StyleSpec, View

PORTRAIT = Path(__file__).resolve().parents[2] / "fixtures" / "portrait.jpg"
# Where OpenCV's frontal cascade finds the face in the portrait (tests/fixtures/README.md).
PORTRAIT_FACE = (177, 66, 95, 95)

COPPER_BOB = StyleSpec(
    name="Copper bob",
    prompt="a chin-length copper bob",
    palette=("#9a2a14", "#c8401c"),
    length="short",
    texture="straight",
)
BEACH_WAVES = StyleSpec(
    name="Beach waves",
    prompt="long honey-blonde beach waves",
    palette=("#6b4a2b", "#d8b27a", "#f0d9a8"),
    length="long",
    texture="wavy",
)


def request(
    image: bytes | None,
    style: StyleSpec = COPPER_BOB,
    view: View = View.FRONT,
    *,
    deadline_s: float = 30.0,
    seed: int | None = 7,
    image_url: str | None = None,
) -> GenerationRequest:
    return GenerationRequest(
        style=style,
        view=view,
        deadline_s=deadline_s,
        image_bytes=image,
        image_url=image_url,
        seed=seed,
    )


def decode(data: bytes) -> npt.NDArray[np.uint8]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB"), np.uint8)


def encode(rgb: npt.NDArray[np.uint8], format: str = "JPEG", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").convert(mode).save(buffer, format)
    return buffer.getvalue()


def resized(rgb: npt.NDArray[np.uint8], side: int) -> npt.NDArray[np.uint8]:
    """A square upscale of `rgb` (the portrait), as a larger phone photo would be."""
    return np.asarray(Image.fromarray(rgb).resize((side, side), Image.Resampling.BICUBIC), np.uint8)


def gradient_image(size: int = 512) -> npt.NDArray[np.uint8]:
    ramp = np.linspace(30, 220, size, dtype=np.float32)
    rgb = np.stack([ramp[None, :].repeat(size, 0), ramp[:, None].repeat(size, 1)], axis=-1)
    blue = np.full((size, size, 1), 128, np.float32)
    return np.concatenate([rgb, blue], axis=-1).astype(np.uint8)


def landscape_image(width: int = 640, height: int = 427) -> npt.NDArray[np.uint8]:
    """Sky, sun, rolling hills and grassy noise: busy, photo-like, and no face anywhere."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    sky = np.stack([120 + 0.2 * yy, 170 + 0.15 * yy, 235 - 0.05 * yy], axis=-1)
    sun = ((xx - 0.75 * width) ** 2 + (yy - 0.2 * height) ** 2) < (0.06 * width) ** 2
    sky[sun] = (255, 240, 190)
    ridge = (
        0.55 * height + 0.08 * height * np.sin(xx / width * 7.0) + 0.03 * height * np.sin(xx / 23)
    )
    grass = np.stack([60 + 0.05 * yy, 120 + 0.1 * yy, 50 + 0.02 * yy], axis=-1)
    image = np.where((yy > ridge)[..., None], grass, sky)
    image += rng.normal(0, 12, image.shape) * (yy > ridge)[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)
