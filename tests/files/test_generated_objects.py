"""No orphan objects: a crash between storing a generation result and completing its job
leaves nothing behind once the job is retried or failed (issue 9, defect 7).

The crash is a storage adapter (passed to the worker's constructor) that stores the object
and then raises, as a process killed right after the write would leave it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.generation.handlers import build_worker
from app.generation.sweeper import Sweeper
from app.generation.worker import GenerationWorker
from app.integrations.storage import DEFAULT_URL_EXPIRY_S, ObjectInfo, PresignedPost, Storage
from app.integrations.storage.local import LocalStorage
from app.models import Image
from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.generation.steps import first_style_id, generate, upload


class Crash(Exception):
    """The process died here."""


class CrashAfterStoringResults:
    """The real storage, except that the first result write succeeds and then 'crashes'."""

    def __init__(self, storage: Storage, folder: str) -> None:
        self._storage = storage
        self._folder = folder
        self.crashed = False

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._storage.put(key, data, content_type)
        if key.startswith(self._folder) and not self.crashed:
            self.crashed = True
            raise Crash(key)

    async def get(self, key: str) -> bytes:
        return await self._storage.get(key)

    async def delete(self, key: str) -> None:
        await self._storage.delete(key)

    async def delete_prefix(self, prefix: str) -> int:
        return await self._storage.delete_prefix(prefix)

    async def exists(self, key: str) -> bool:
        return await self._storage.exists(key)

    async def head(self, key: str) -> ObjectInfo | None:
        return await self._storage.head(key)

    async def presigned_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int = DEFAULT_URL_EXPIRY_S
    ) -> PresignedPost:
        return await self._storage.presigned_post(key, content_type, max_bytes, expires_in)

    async def url_for(self, key: str, expires_in: int | None = None) -> str:
        return await self._storage.url_for(key, expires_in)

    async def ping(self) -> None:
        await self._storage.ping()


def _objects_under(storage: Storage, prefix: str) -> set[str]:
    assert isinstance(storage, LocalStorage)
    base = storage.root / prefix
    if not base.exists():
        return set()
    return {
        path.relative_to(storage.root).as_posix()
        for path in Path(base).rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }


async def _crashed_job(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> tuple[int, str]:
    """A generation whose worker stored its result and died before completing it."""
    await signed_up_and_verified(client, mail)
    me = (await client.get("/api/v1/user/me")).json()
    selfie = await upload(client)
    started = await generate(client, selfie["key"], await first_style_id(client))
    assert started.status_code == 200, started.text
    await resources.database.background.drain()
    folder = resources.settings.GENERATED_IMAGES_FOLDER
    crashing = CrashAfterStoringResults(resources.storage, folder)
    worker = GenerationWorker(resources.database, crashing, resources.generator, resources.settings)
    image_id = int(started.json()["image_id"])
    with pytest.raises(Crash):
        await worker.run_generation(image_id)
    prefix = f"{folder}user_{me['id']}/"
    assert len(_objects_under(resources.storage, prefix)) == 1
    return image_id, prefix


async def test_retried_job_after_a_crash_leaves_one_result_object(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    image_id, prefix = await _crashed_job(client, mail, resources)
    row = await session.get(Image, image_id)
    assert row is not None
    row.lease_until = datetime.now(UTC) - timedelta(seconds=1)  # its worker is gone
    await session.flush()

    await build_worker(resources).run_generation(image_id)

    await session.refresh(row)
    assert row.status == "completed"
    assert _objects_under(resources.storage, prefix) == {row.output_key}


async def test_job_failed_after_a_crash_leaves_no_result_object(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    image_id, prefix = await _crashed_job(client, mail, resources)
    row = await session.get(Image, image_id)
    assert row is not None
    row.deadline_at = datetime.now(UTC) - timedelta(seconds=1)
    await session.flush()

    sweeper = Sweeper(
        resources.database, build_worker(resources), resources.queue, resources.settings
    )
    await sweeper.sweep_once()
    await resources.database.background.drain()

    await session.refresh(row)
    assert row.status == "failed"
    assert _objects_under(resources.storage, prefix) == set()


async def test_deleting_an_image_after_a_crash_removes_what_the_job_stored(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    image_id, prefix = await _crashed_job(client, mail, resources)

    assert (await client.delete(f"/api/v1/image/{image_id}")).status_code == 204
    await resources.database.background.drain()

    assert _objects_under(resources.storage, prefix) == set()
