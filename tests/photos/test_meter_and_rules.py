"""The measuring (off the event loop, once per upload at a time) and the judging (one reason,
in a fixed order, from the thresholds of the moment)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace

import cv2
import pytest

from app.core.imaging import DEFAULT_MAX_PIXELS
from app.core.serial_thread import SerialThread
from app.files.exceptions import InvalidImage
from app.photos.measure import measure_photo
from app.photos.measurements import PhotoMeasurements
from app.photos.meter import BACKGROUND_NICE, PhotoMeter
from app.photos.rules import PhotoThresholds, first_problem
from tests.generation.steps import portrait
from tests.loop_probe import LoopProbe

LIMITS = PhotoThresholds(min_face_share=0.10, min_brightness=30.0, min_sharpness=50.0)
GOOD = PhotoMeasurements(
    brightness=115.0, sharpness=1600.0, face_count=1, face_share=0.19, face_sharpness=860.0
)


async def test_measuring_a_photo_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = LoopProbe(monkeypatch, asyncio.get_running_loop())
    probe.wrap(cv2, "cvtColor")
    probe.wrap(cv2, "Laplacian")

    async def read() -> bytes:
        return portrait()

    found = await PhotoMeter(DEFAULT_MAX_PIXELS).measure(1, read)

    assert found.face_count == 1
    assert probe.served("Laplacian")
    assert all(probe.served()), probe.calls


async def test_the_loop_probe_sees_a_measurement_made_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: the probe above would notice the work moving onto the loop."""
    probe = LoopProbe(monkeypatch, asyncio.get_running_loop(), patience=0.2)
    probe.wrap(cv2, "Laplacian")

    measure_photo(portrait(), DEFAULT_MAX_PIXELS)

    assert probe.served("Laplacian")
    assert not any(probe.served("Laplacian"))


async def test_two_measurements_of_one_upload_at_once_read_and_measure_it_once() -> None:
    reads = 0
    release = asyncio.Event()

    async def read() -> bytes:
        nonlocal reads
        reads += 1
        await release.wait()
        return portrait()

    meter = PhotoMeter(DEFAULT_MAX_PIXELS)
    first = asyncio.create_task(meter.measure(7, read))
    second = asyncio.create_task(meter.measure(7, read))
    await asyncio.sleep(0)
    release.set()

    assert await first == await second
    assert reads == 1


class _BlockedLane:
    """A background lane held busy by a job of the test's own until `free()`."""

    def __init__(self) -> None:
        self.lane = SerialThread("test-photo-checks", nice=BACKGROUND_NICE)
        self._gate = threading.Event()
        self._holding: asyncio.Task[bool] | None = None

    async def __aenter__(self) -> _BlockedLane:
        self._holding = asyncio.create_task(self.lane.run(self._gate.wait, 30))
        await self.until(lambda: self.lane.waiting == 0)  # the holding job has started
        return self

    async def until(self, condition: Callable[[], bool]) -> None:
        """Poll a counter the lane's thread changes (no event to wait on); bounded."""
        for _ in range(1000):
            if condition():
                return
            await asyncio.sleep(0.01)
        pytest.fail("the lane never got there")

    async def free(self) -> None:
        self._gate.set()
        assert self._holding is not None
        await self._holding

    async def __aexit__(self, *exc: object) -> None:
        await self.free()


async def test_a_background_check_is_measured_in_the_low_priority_lane() -> None:
    async with _BlockedLane() as blocked:
        meter = PhotoMeter(DEFAULT_MAX_PIXELS, background=blocked.lane)

        async def read() -> bytes:
            return portrait()

        check = asyncio.create_task(meter.measure_in_background(read))
        await blocked.until(lambda: blocked.lane.waiting > 0)

        assert not check.done()  # queued behind the lane's job, nowhere else
        await blocked.free()
        assert (await check).face_count == 1


async def test_a_request_never_waits_for_the_background_lane() -> None:
    async with _BlockedLane() as blocked:
        meter = PhotoMeter(DEFAULT_MAX_PIXELS, background=blocked.lane)

        async def read() -> bytes:
            return portrait()

        queued = asyncio.create_task(meter.measure_in_background(read))
        found = await meter.measure(5, read)

        assert found.face_count == 1
        assert not queued.done()
    assert await queued == found


async def test_background_checks_hold_one_photo_at_a_time_while_they_wait() -> None:
    reads = 0

    async def read() -> bytes:
        nonlocal reads
        reads += 1
        return portrait()

    async with _BlockedLane() as blocked:
        meter = PhotoMeter(DEFAULT_MAX_PIXELS, background=blocked.lane)
        checks = [asyncio.create_task(meter.measure_in_background(read)) for _ in range(3)]
        await blocked.until(lambda: blocked.lane.waiting > 0)
        await asyncio.sleep(0.05)

        assert reads == 1  # the others are not read until the lane is free
        await blocked.free()
        found = await asyncio.gather(*checks)

    assert reads == 3
    assert all(one.face_count == 1 for one in found)


async def test_bytes_that_are_not_an_image_are_an_invalid_image() -> None:
    async def read() -> bytes:
        return b"not an image"

    with pytest.raises(InvalidImage):
        await PhotoMeter(DEFAULT_MAX_PIXELS).measure(3, read)


def _problem(found: PhotoMeasurements, *, needs_face: bool = True) -> str | None:
    problem = first_problem(found, LIMITS, needs_face=needs_face)
    return problem.code if problem is not None else None


def test_a_good_photo_has_no_problem() -> None:
    assert _problem(GOOD) is None


def test_darkness_is_named_before_the_missing_face_it_hides() -> None:
    black = PhotoMeasurements(
        brightness=0.0, sharpness=0.0, face_count=0, face_share=None, face_sharpness=None
    )
    assert _problem(black) == "PHOTO_TOO_DARK"


def test_face_problems_come_before_blur_and_in_order() -> None:
    blurry_pair = replace(GOOD, face_count=2, face_sharpness=5.0)
    small_blurry = replace(GOOD, face_share=0.05, face_sharpness=5.0)
    assert _problem(replace(GOOD, face_count=0, face_share=None)) == "NO_FACE_DETECTED"
    assert _problem(blurry_pair) == "MULTIPLE_FACES"
    assert _problem(small_blurry) == "FACE_TOO_SMALL"
    assert _problem(replace(GOOD, face_sharpness=5.0)) == "PHOTO_TOO_BLURRY"


def test_blur_is_judged_on_the_face_not_on_a_plain_background() -> None:
    assert _problem(replace(GOOD, sharpness=3.0)) is None


def test_a_photo_that_needs_no_face_is_only_checked_for_light_and_sharpness() -> None:
    faceless = replace(GOOD, face_count=0, face_share=None, face_sharpness=None)
    assert _problem(faceless, needs_face=False) is None
    assert _problem(replace(faceless, sharpness=5.0), needs_face=False) == "PHOTO_TOO_BLURRY"
    assert _problem(replace(GOOD, face_count=3), needs_face=False) is None
    assert _problem(replace(faceless, brightness=4.0), needs_face=False) == "PHOTO_TOO_DARK"
