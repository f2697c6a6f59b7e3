"""Measuring photos off the event loop, a bounded number at a time, once per upload per process.

One `PhotoMeter` per process (in `Resources`), with two lanes:

- `measure`, for a request that needs the answer now (a generation, GET /files/check): a worker
  thread through a capacity limiter, at the process's priority, so requests arriving together
  queue for the CPU instead of starving the others. Callers for the same upload share one
  measurement.
- `measure_in_background`, for an upload just accepted: one low-priority thread of its own
  (`SerialThread`, nice +10), one photo at a time. A background check costs about as much CPU
  as the upload's own intake (bench/README.md, "Upload"); at the same priority it took the
  cores from the next uploads and the status polls, whose answers people are waiting for.
  Now it fills the CPU those leave. Only one photo's bytes are held while waiting: the next
  is read when the thread is free. A request never waits for this lane: if the result is
  not stored yet, it measures in its own lane (at worst the photo is measured twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

import anyio
import anyio.to_thread

from app.core.imaging import TooManyPixels, UndecodableImage
from app.core.serial_thread import SerialThread
from app.files.exceptions import InvalidImage
from app.photos.measurements import PhotoMeasurements

# Weight 110 against 1024 for a thread at the normal priority (Linux CFS): the background lane
# gets about a tenth of a contended core, and all of an idle one.
BACKGROUND_NICE = 10


class PhotoMeter:
    def __init__(
        self,
        max_pixels: int,
        *,
        concurrency: int = 1,
        background: SerialThread | None = None,
    ) -> None:
        self._max_pixels = max_pixels
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._running: dict[int, asyncio.Future[PhotoMeasurements]] = {}
        self._background = background or SerialThread("photo-checks", nice=BACKGROUND_NICE)
        # Created on first use: an asyncio primitive belongs to the loop that first waits on it.
        self._background_turn: asyncio.Lock | None = None

    async def measure_in_background(
        self, read: Callable[[], Awaitable[bytes]]
    ) -> PhotoMeasurements:
        """The measurements of the bytes `read` fetches, in the low-priority lane, one photo
        at a time (the bytes are fetched only when it is this photo's turn). Raises
        `InvalidImage` for bytes that do not decode."""
        if self._background_turn is None:
            self._background_turn = asyncio.Lock()
        async with self._background_turn:
            data = await read()
            try:
                return await self._background.run(_measure_photo, data, self._max_pixels)
            except (TooManyPixels, UndecodableImage) as exc:
                raise InvalidImage() from exc

    async def measure(
        self, upload_id: int, read: Callable[[], Awaitable[bytes]]
    ) -> PhotoMeasurements:
        """The upload's measurements; `read` fetches its bytes (only if no measurement of it is
        already running here). Raises `InvalidImage` for bytes that do not decode."""
        while (running := self._running.get(upload_id)) is not None:
            # Waiting never cancels the other caller's measurement; if it failed, try ours.
            await asyncio.wait([running])
            if not running.cancelled() and running.exception() is None:
                return running.result()
        future: asyncio.Future[PhotoMeasurements] = asyncio.get_running_loop().create_future()
        self._running[upload_id] = future
        try:
            result = await self._measure(await read())
        except Exception as exc:
            future.set_exception(exc)
            # Nobody may be waiting: do not let the loop log an unretrieved exception.
            future.exception()
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._running[upload_id]

    async def _measure(self, data: bytes) -> PhotoMeasurements:
        work = partial(_measure_photo, data, self._max_pixels)
        try:
            return await anyio.to_thread.run_sync(work, limiter=self._limiter)
        except (TooManyPixels, UndecodableImage) as exc:
            raise InvalidImage() from exc


def _measure_photo(data: bytes, max_pixels: int) -> PhotoMeasurements:
    # NumPy and OpenCV load in the worker thread on the first measurement, not at startup.
    from app.photos.measure import measure_photo

    return measure_photo(data, max_pixels)
