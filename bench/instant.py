"""The bench's instant generator, plugged into job workers through their existing hook:
`python -m app.jobs --handlers bench.instant:build_handlers`. The generation handlers are the
real ones (claim, lease, storage, completion); only the generator answers at once, so the
pipeline figure measures our queue, workers and database, not image synthesis."""

from __future__ import annotations

import io

from PIL import Image

from app.generation.handlers import build_handlers as real_handlers
from app.integrations.generator.port import GenerationRequest, GenerationResult
from app.jobs.port import JobHandlers
from app.resources import Resources


def _tiny_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (180, 120, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


class InstantGenerator:
    def __init__(self) -> None:
        self.output = _tiny_jpeg()

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        return GenerationResult(
            data=self.output, content_type="image/jpeg", provider_id=None, is_preview=True
        )

    async def detect_face(self, image_bytes: bytes) -> bool:
        return True


def build_handlers(resources: Resources) -> JobHandlers:
    resources.generator = InstantGenerator()
    return real_handlers(resources)
