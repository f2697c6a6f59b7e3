"""Steps for the try-on options (SPEC §4a): a generate call with any of the new fields, and
the measures tests read back."""

from __future__ import annotations

import hashlib
import io
import json

import httpx
import numpy as np
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CreditLedgerEntry
from tests.generation.steps import path_of


async def try_on(
    client: httpx.AsyncClient, key: str | None = None, **body: object
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post("/api/v1/image/generate", json=body, headers=headers)


async def credits(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/v1/user/credits")).json())


async def ledger(session: AsyncSession, image_id: int, reason: str) -> int:
    found = await session.scalar(
        select(func.count())
        .select_from(CreditLedgerEntry)
        .where(CreditLedgerEntry.reason == reason, CreditLedgerEntry.reference_id == str(image_id))
    )
    return int(found or 0)


async def status(client: httpx.AsyncClient, image_id: int) -> dict[str, object]:
    body: dict[str, object] = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    return body


async def output_rgb(client: httpx.AsyncClient, image_id: int) -> np.ndarray:
    body = await status(client, image_id)
    assert body["status"] == "completed", body
    data = (await client.get(path_of(str(body["output_image_url"])))).content
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), np.float32)


def legacy_hash(image_input_url: str, style_id: int) -> str:
    """The idempotency hash as it was before the try-on options: it must not change."""
    payload = {"image_input_url": image_input_url, "style_id": style_id}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
