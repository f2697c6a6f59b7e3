"""Steps of the try-on flow for tests: upload a selfie, pick a style, generate, run jobs."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.generation.handlers import build_handlers
from app.resources import Resources
from tests.generation.queue import RecordingQueue

PORTRAIT = Path(__file__).resolve().parents[1] / "fixtures" / "portrait.jpg"


def portrait() -> bytes:
    return PORTRAIT.read_bytes()


async def upload(client: httpx.AsyncClient, data: bytes | None = None) -> dict[str, str]:
    response = await client.post(
        "/api/v1/files/upload", files={"file": ("selfie.jpg", data or portrait(), "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def first_style_id(client: httpx.AsyncClient) -> int:
    styles = (await client.get("/api/v1/image/styles")).json()
    return int(styles[0]["id"])


async def generate(
    client: httpx.AsyncClient, image_input_url: str, style_id: int, **headers: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/image/generate",
        json={"image_input_url": image_input_url, "style_id": style_id},
        headers=headers,
    )


async def run_jobs(resources: Resources) -> int:
    """Let after-commit hooks queue their jobs, then run every queued job."""
    await resources.database.background.drain()
    queue = resources.job_queue
    assert isinstance(queue, RecordingQueue)
    return await queue.run_all(build_handlers(resources))


def path_of(url: str) -> str:
    parts = httpx.URL(url)
    return f"{parts.path}?{parts.query.decode()}" if parts.query else parts.path
