"""Measuring photos off the event loop, a bounded number at a time, once per upload per process.

One `PhotoMeter` per process (in `Resources`). The measurement runs in a worker thread through
a capacity limiter, so uploads arriving together queue for the CPU instead of starving the
requests. A generation that arrives while the upload's background measurement is still running
waits for that one instead of starting a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

import anyio
import anyio.to_thread

from app.core.imaging import TooManyPixels, UndecodableImage
from app.files.exceptions import InvalidImage
from app.photos.measurements import PhotoMeasurements


class PhotoMeter:
    def __init__(self, max_pixels: int, *, concurrency: int = 1) -> None:
        self._max_pixels = max_pixels
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._running: dict[int, asyncio.Future[PhotoMeasurements]] = {}

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
