"""The generator port: what the generation service hands to whichever generator the settings chose.

Shaped after the Replicate adapter that comes later (`bytedance/seedream-4`, external-apis
§1.10): a text prompt plus a reference image given as a URL Replicate can fetch or as bytes (a
data URI), one view per call, a deadline, and back either the image bytes with their content
type or a typed failure whose `code` is the job failure code of SPEC §4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

Length = Literal["short", "medium", "long"]
Texture = Literal["straight", "wavy", "curly", "coily"]
FailureCode = Literal[
    "GENERATION_FAILED",
    "GENERATION_TIMEOUT",
    "NO_FACE_DETECTED",
    "PROVIDER_UNAVAILABLE",
    "CONTENT_REJECTED",
    "INVALID_IMAGE",
]

MAX_PALETTE_COLOURS = 3
_HEX_COLOUR = re.compile(r"#?[0-9a-fA-F]{6}")
# Trying again can only help when the cause was time or an outage, not the image or the input.
_RETRYABLE: dict[FailureCode, bool] = {
    "GENERATION_FAILED": False,
    "GENERATION_TIMEOUT": True,
    "NO_FACE_DETECTED": False,
    "PROVIDER_UNAVAILABLE": True,
    "CONTENT_REJECTED": False,
    "INVALID_IMAGE": False,
}
_DEFAULT_MESSAGES: dict[FailureCode, str] = {
    "GENERATION_FAILED": "The image could not be generated.",
    "GENERATION_TIMEOUT": "The generation did not finish in time.",
    "NO_FACE_DETECTED": "No face was found in the photo.",
    "PROVIDER_UNAVAILABLE": "The image generator is unavailable.",
    "CONTENT_REJECTED": "The image generator refused this photo or style.",
    "INVALID_IMAGE": "The image generator could not use this photo.",
}


class View(StrEnum):
    FRONT = "front"
    RIGHT = "right"
    LEFT = "left"
    BACK = "back"


@dataclass(frozen=True, slots=True)
class StyleSpec:
    """What a generator needs to know about a catalogue style.

    `prompt` drives a model; `palette` (1 to 3 `#rrggbb` colours, roots to ends), `length` and
    `texture` drive the local preview, which cannot read prose. None means "keep the client's".
    """

    name: str
    prompt: str
    palette: tuple[str, ...]
    length: Length | None = None
    texture: Texture | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.palette) <= MAX_PALETTE_COLOURS:
            raise ValueError(f"a style palette has 1 to {MAX_PALETTE_COLOURS} colours")
        bad = [colour for colour in self.palette if not _HEX_COLOUR.fullmatch(colour)]
        if bad:
            raise ValueError(f"palette colours must be #rrggbb hex, got {bad!r}")


@dataclass(frozen=True, slots=True)
class HairColour:
    """The colour the person picked: `hex` (`#rrggbb`) None means "keep their own colour".

    Without one on the request the generator shows the style as defined (its palette); the
    generation worker always sends one, so "keep" really keeps the person's colour.
    """

    id: str
    name: str
    hex: str | None = None

    def __post_init__(self) -> None:
        if self.hex is not None and not _HEX_COLOUR.fullmatch(self.hex):
            raise ValueError(f"a hair colour is #rrggbb hex, got {self.hex!r}")


class PredictionSlot(Protocol):
    """Where a remote generator records the prediction it started for one job (image or view).

    `submitted` is called the moment the provider returned an id, before anything else can
    fail, so a restarted job re-attaches to it (`current`) instead of paying for another.
    """

    async def current(self) -> str | None: ...

    async def submitted(self, prediction_id: str) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationRequest:
    """One image to generate.

    `deadline_s` is the time the caller still allows, in seconds from the call (the job's
    remaining `GENERATION_TIMEOUT_S` budget); zero or less means the job is already late.
    Give `image_bytes`, `image_url` or both: Replicate prefers a URL it can fetch, the local
    generator needs the bytes.
    """

    style: StyleSpec
    view: View
    deadline_s: float
    # Selfies and presigned URLs (bearer credentials) stay out of logs and tracebacks.
    image_bytes: bytes | None = field(default=None, repr=False)
    image_url: str | None = field(default=None, repr=False)
    seed: int | None = None
    hair_color: HairColour | None = None
    # "This haircut from a photo" (SPEC §4a): the caller's reference, as bytes and/or a URL
    # like the selfie. With one, the hair comes from it and `style` only names the job; no
    # `hair_color` then means the reference's own colour.
    reference_bytes: bytes | None = field(default=None, repr=False)
    reference_url: str | None = field(default=None, repr=False)
    # None for generators that finish in-process (the local one ignores it).
    prediction: PredictionSlot | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.image_bytes is None and self.image_url is None:
            raise ValueError("a generation request needs image_bytes or image_url")


@dataclass(frozen=True, slots=True)
class GenerationResult:
    data: bytes = field(repr=False)
    content_type: str
    # Replicate's prediction id, kept so a restarted job can re-attach; None for local output.
    provider_id: str | None
    # A preview is the local stand-in, labelled as such on the image; the UI may say so too.
    is_preview: bool


class GenerationFailed(Exception):
    """A generation that produced no image; `code` becomes the job's `error.code`.

    `retryable` says whether running the same request again can succeed; by default it follows
    the code (timeouts and outages can, a faceless photo or a rejected input cannot).
    """

    def __init__(
        self, code: FailureCode, message: str | None = None, retryable: bool | None = None
    ) -> None:
        # All three in `args`, positionally: job brokers pickle exceptions across processes,
        # and unpickling calls the class with `args`.
        super().__init__(code, message, retryable)
        self.code: FailureCode = code
        self.message = message or _DEFAULT_MESSAGES[code]
        self.retryable = _RETRYABLE[code] if retryable is None else retryable

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ProviderBusy(Exception):
    """The provider throttled us (HTTP 429) before anything was started or charged.

    Not a failure: the job goes back to the queue for `retry_after_s` without holding a
    worker slot meanwhile, and keeps its credit.
    """

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return f"provider busy; retry after {self.retry_after_s:g} s"


class Generator(Protocol):
    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """The image for `request`, or `GenerationFailed`; never blocks the event loop."""
        ...
