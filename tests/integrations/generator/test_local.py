"""The embedded generator on a real portrait: what changes, what must not, and how it fails."""

from __future__ import annotations

import anyio
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from app.integrations.generator import (
    GenerationFailed,
    LocalGenerator,
    StyleSpec,
    View,
)
from app.integrations.generator.faces import find_face
from app.integrations.generator.masks import hair_mask
from tests.integrations.generator.images import (
    BEACH_WAVES,
    COPPER_BOB,
    decode,
    encode,
    gradient_image,
    landscape_image,
    request,
    resized,
)

Image = npt.NDArray[np.uint8]


def _lab(rgb: Image) -> npt.NDArray[np.float32]:
    return np.asarray(cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2LAB), np.float32)


def _hair_and_face(rgb: Image) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    face = find_face(rgb)
    assert face is not None
    hair = hair_mask(rgb, face, COPPER_BOB.length) > 0.5
    box = np.zeros(rgb.shape[:2], np.bool_)
    box[face.y : face.y + face.h, face.x : face.x + face.w] = True
    return hair & ~box, box


async def test_front_preview_is_a_same_size_jpeg_marked_as_preview(
    generator: LocalGenerator, portrait: bytes
) -> None:
    result = await generator.generate(request(portrait))

    assert result.content_type == "image/jpeg"
    assert result.is_preview
    assert result.provider_id is None
    assert decode(result.data).shape == decode(portrait).shape
    assert b"HairTryOn local Preview" in result.data[:4096]


async def test_front_preview_changes_the_hair_and_leaves_the_face(
    generator: LocalGenerator, portrait: bytes
) -> None:
    before = decode(portrait)
    after = decode((await generator.generate(request(portrait))).data)
    hair, face_box = _hair_and_face(before)
    difference = np.abs(after.astype(np.int16) - before.astype(np.int16)).mean(axis=-1)

    assert hair.sum() > 5000  # a real head of hair, not a few pixels
    in_hair, in_face = difference[hair].mean(), difference[face_box].mean()
    assert in_hair > 25
    assert in_hair > 5 * in_face
    # The middle of the face (eyes to mouth) only sees JPEG re-encoding noise.
    x, y, w, h = 177, 66, 95, 95
    centre = difference[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4]
    assert centre.mean() < 3


@pytest.mark.parametrize(
    ("palette", "channel", "direction"),
    [(("#b01e1e",), 1, 1), (("#1e3cb4",), 2, -1), (("#e8d29a",), 0, 1)],
    ids=["red raises a*", "blue lowers b*", "platinum raises L*"],
)
async def test_the_palette_shows_in_the_hair(
    generator: LocalGenerator,
    portrait: bytes,
    palette: tuple[str, ...],
    channel: int,
    direction: int,
) -> None:
    style = StyleSpec(name="Palette", prompt="-", palette=palette)
    before = decode(portrait)
    after = decode((await generator.generate(request(portrait, style))).data)
    hair, _ = _hair_and_face(before)

    shift = _lab(after)[..., channel][hair].mean() - _lab(before)[..., channel][hair].mean()

    assert direction * shift > 10


async def test_same_photo_style_and_seed_give_the_same_bytes(portrait: bytes) -> None:
    # Two generators on a wide limiter run in two worker threads at once: OpenCV's RNG is per
    # thread, so this also proves GrabCut's seeding does not depend on the thread.
    generator = LocalGenerator(limiter=anyio.CapacityLimiter(2))
    results: list[bytes] = []

    async def run() -> None:
        results.append((await generator.generate(request(portrait, BEACH_WAVES))).data)

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        group.start_soon(run)
    again = (await LocalGenerator().generate(request(portrait, BEACH_WAVES))).data

    assert results[0] == results[1] == again


async def test_another_seed_draws_other_waves(generator: LocalGenerator, portrait: bytes) -> None:
    first = await generator.generate(request(portrait, BEACH_WAVES, seed=1))
    second = await generator.generate(request(portrait, BEACH_WAVES, seed=2))

    assert first.data != second.data


async def test_each_view_is_its_own_labelled_preview(
    generator: LocalGenerator, portrait: bytes
) -> None:
    front = decode((await generator.generate(request(portrait, BEACH_WAVES))).data)
    views: dict[View, Image] = {}
    for view in (View.RIGHT, View.LEFT, View.BACK):
        result = await generator.generate(request(portrait, BEACH_WAVES, view))
        assert result.is_preview
        assert f"Preview — {view}".encode() in result.data[:4096]
        views[view] = decode(result.data)

    for view, image in views.items():
        assert image.shape == front.shape
        assert np.abs(image.astype(np.int16) - front).mean() > 10, view
    right, left, back = views[View.RIGHT], views[View.LEFT], views[View.BACK]
    assert np.abs(right.astype(np.int16) - left).mean() > 10
    assert np.abs(back.astype(np.int16) - right).mean() > 10


@pytest.mark.parametrize("mode", ["L", "RGBA"])
async def test_grey_and_transparent_photos_work(
    generator: LocalGenerator, portrait: bytes, mode: str
) -> None:
    image = encode(decode(portrait), "PNG", mode)

    result = await generator.generate(request(image))

    assert decode(result.data).shape == (512, 512, 3)


async def test_large_photos_are_rendered_at_most_max_side(portrait: bytes) -> None:
    big = resized(decode(portrait), 1200)

    result = await LocalGenerator(max_side=768).generate(request(encode(big)))

    assert decode(result.data).shape == (768, 768, 3)


@pytest.mark.parametrize(
    "image", [gradient_image(), landscape_image()], ids=["gradient", "landscape"]
)
async def test_a_photo_without_a_face_fails_with_no_face_detected(
    generator: LocalGenerator, image: Image
) -> None:
    with pytest.raises(GenerationFailed) as failure:
        await generator.generate(request(encode(image)))

    assert failure.value.code == "NO_FACE_DETECTED"
    assert not failure.value.retryable


async def test_garbage_bytes_fail_with_generation_failed(generator: LocalGenerator) -> None:
    with pytest.raises(GenerationFailed) as failure:
        await generator.generate(request(b"\x89PNG\r\n\x1a\n this is not really a png"))

    assert failure.value.code == "GENERATION_FAILED"
    assert not failure.value.retryable


async def test_a_url_without_bytes_is_refused_not_fetched(generator: LocalGenerator) -> None:
    with pytest.raises(GenerationFailed) as failure:
        await generator.generate(request(None, image_url="https://example.com/selfie.jpg"))

    assert failure.value.code == "GENERATION_FAILED"


@pytest.mark.parametrize("deadline_s", [0.0, -5.0])
async def test_an_expired_deadline_fails_with_generation_timeout(
    generator: LocalGenerator, portrait: bytes, deadline_s: float
) -> None:
    with pytest.raises(GenerationFailed) as failure:
        await generator.generate(request(portrait, deadline_s=deadline_s))

    assert failure.value.code == "GENERATION_TIMEOUT"
    assert failure.value.retryable


async def test_a_job_queued_past_its_deadline_times_out_while_waiting(portrait: bytes) -> None:
    generator = LocalGenerator()  # one at a time
    outcomes: dict[str, str] = {}

    async def run(name: str, deadline_s: float) -> None:
        try:
            await generator.generate(
                request(portrait, BEACH_WAVES, View.BACK, deadline_s=deadline_s)
            )
            outcomes[name] = "done"
        except GenerationFailed as failure:
            outcomes[name] = failure.code

    async with anyio.create_task_group() as group:
        group.start_soon(run, "first", 30.0)
        await anyio.sleep(0.01)
        group.start_soon(run, "queued", 0.05)

    assert outcomes == {"first": "done", "queued": "GENERATION_TIMEOUT"}
