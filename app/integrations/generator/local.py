"""The embedded generator (SPEC §9): offline, deterministic, labelled previews.

It finds the face, masks the hair, recolours and retextures it and renders side and back views
from the result (see `pipeline.py`). The colour is the person's choice (`hair_color`: a hex, or
their own measured colour for "keep"), or the style's palette when the request names none. The
prompt is for models; this generator reads the style's length and texture instead.

All image work runs in a worker thread, so the event loop keeps serving requests, and
through a capacity limiter (one at a time by default) so parallel jobs queue instead of
fighting over the CPU.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio
import anyio.to_thread

from app.core.imaging import DEFAULT_MAX_PIXELS
from app.integrations.generator.deadline import Deadline
from app.integrations.generator.port import (
    GenerationFailed,
    GenerationRequest,
    GenerationResult,
    HairColour,
    StyleSpec,
    View,
)

T = TypeVar("T")

JPEG_CONTENT_TYPE = "image/jpeg"

DEFAULT_MAX_SIDE = 768


class LocalGenerator:
    def __init__(
        self,
        max_side: int = DEFAULT_MAX_SIDE,
        limiter: anyio.CapacityLimiter | None = None,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self._max_side = max_side
        # The same cap as the intake (MAX_IMAGE_PIXELS): checked before any decode (UP-06).
        self._max_pixels = max_pixels
        self._limiter = limiter if limiter is not None else anyio.CapacityLimiter(1)

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        deadline = Deadline(request.deadline_s)
        if request.image_bytes is None or (
            request.reference_url is not None and request.reference_bytes is None
        ):
            # Fetching is the service's job (it reads the caller's upload from our storage).
            raise GenerationFailed(
                "GENERATION_FAILED", "The local generator needs the image bytes, not a URL."
            )
        # Without a seed the style's name picks one: the same photo and style always give the
        # same preview, and the front and its views share their hair texture.
        seed = request.seed if request.seed is not None else zlib.crc32(request.style.name.encode())
        work = partial(
            _render_preview,
            request.image_bytes,
            request.style,
            request.view,
            seed=seed,
            max_side=self._max_side,
            max_pixels=self._max_pixels,
            deadline=deadline,
            colour=request.hair_color,
            reference=request.reference_bytes,
        )
        data = await self._in_worker(work, deadline)
        return GenerationResult(
            data=data, content_type=JPEG_CONTENT_TYPE, provider_id=None, is_preview=True
        )

    async def _in_worker(self, work: Callable[[], T], deadline: Deadline) -> T:
        deadline.check("queue")
        # Waiting for a turn counts against the deadline: a job queued past it fails now,
        # not after the jobs ahead of it.
        try:
            with anyio.fail_after(deadline.remaining()):
                await self._limiter.acquire()
        except TimeoutError as exc:
            raise GenerationFailed(
                "GENERATION_TIMEOUT", "The deadline passed while waiting for a free worker."
            ) from exc
        try:
            return await anyio.to_thread.run_sync(work)
        finally:
            self._limiter.release()


# The image pipeline (NumPy, OpenCV: ~40 MB per process) is imported in the worker thread on the
# first generation or face check, not when the module is: an API process whose jobs run
# elsewhere, or that never checks a face, never loads it.
def _render_preview(
    data: bytes,
    style: StyleSpec,
    view: View,
    *,
    seed: int,
    max_side: int,
    max_pixels: int,
    deadline: Deadline,
    colour: HairColour | None = None,
    reference: bytes | None = None,
) -> bytes:
    from app.integrations.generator.pipeline import render_preview

    return render_preview(
        data,
        style,
        view,
        seed=seed,
        max_side=max_side,
        max_pixels=max_pixels,
        deadline=deadline,
        colour=colour,
        reference=reference,
    )
