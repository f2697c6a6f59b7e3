"""Photos made from the fixture portrait, one for each way a photo fails the checks."""

from __future__ import annotations

import io

from PIL import Image, ImageFilter

from tests.generation.steps import portrait


def _fixture() -> Image.Image:
    return Image.open(io.BytesIO(portrait())).convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def two_faces() -> bytes:
    """The portrait and its mirror image side by side: two faces of the same size."""
    face = _fixture()
    pair = Image.new("RGB", (face.width * 2, face.height))
    pair.paste(face, (0, 0))
    pair.paste(face.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (face.width, 0))
    return _jpeg(pair)


def tiny_face() -> bytes:
    """The portrait at half size in the middle of a large grey canvas: the face is ~5% of the
    shorter side, found but too small to work with."""
    small = _fixture().resize((256, 256), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (1024, 1024), (128, 128, 128))
    canvas.paste(small, (384, 384))
    return _jpeg(canvas)


def black_frame() -> bytes:
    return _jpeg(Image.new("RGB", (512, 512), "black"))


def blurred_portrait() -> bytes:
    return _jpeg(_fixture().filter(ImageFilter.GaussianBlur(4)))


def faceless() -> bytes:
    """A well-lit photo of a plain sky: bright enough, no face."""
    return _jpeg(Image.new("RGB", (400, 300), "skyblue"))


def large_face() -> bytes:
    """The portrait enlarged to a 1152x1536 phone-shaped photo: one face of about a quarter of
    the shorter side, the common selfie."""
    large = _fixture().resize((1536, 1536), Image.Resampling.LANCZOS)
    return _jpeg(large.crop((192, 0, 1344, 1536)))


def large_face_and_bystander() -> bytes:
    """The large face with the portrait at a sixth of its size in a corner: a face far less
    than half as wide as the person's, which does not count."""
    photo = Image.open(io.BytesIO(large_face())).convert("RGB")
    photo.paste(_fixture().resize((256, 256), Image.Resampling.LANCZOS), (880, 1260))
    return _jpeg(photo)
