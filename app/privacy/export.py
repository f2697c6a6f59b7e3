"""A person's export (SPEC §4a): a zip of their profile, ledger, transactions and images.

The rows are read first, in the request's unit of work; the zip is then streamed while its
files are fetched through storage one at a time, so neither a transaction nor a whole archive
is held in memory while the client downloads. Images are stored as they are (already
compressed); the JSON documents are deflated.
"""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import inspect

from app.integrations.storage import Storage
from app.integrations.storage.port import ObjectNotFound
from app.models import Image, User
from app.privacy.repository import ExportRepository

# Never exported: credentials, and the job engine's plumbing (meaningless to the person).
_LEFT_OUT = frozenset(
    {
        "hashed_password",
        "token_hash",
        "business_key",
        "lease_owner",
        "lease_token",
        "lease_until",
        "queued_until",
        "provider_prediction_id",
    }
)
_IMAGE_FILES = ("output_key", "right_view_key", "left_view_key", "back_view_key")


@dataclass(slots=True)
class ExportPlan:
    documents: dict[str, Any]
    # (name in the zip, storage key), in the order they are written.
    files: list[tuple[str, str]] = field(default_factory=list)


def as_record(row: Any) -> dict[str, Any]:
    """A row's columns as JSON values."""
    record: dict[str, Any] = {}
    for column in inspect(row).mapper.column_attrs:
        if column.key in _LEFT_OUT:
            continue
        value = getattr(row, column.key)
        record[column.key] = value.isoformat() if isinstance(value, datetime) else value
    return record


def _extension(key: str) -> str:
    tail = key.rsplit("/", 1)[-1]
    return tail.rsplit(".", 1)[-1] if "." in tail else "bin"


class ExportService:
    def __init__(self, rows: ExportRepository, storage: Storage) -> None:
        self.rows = rows
        self.storage = storage

    async def plan(self, user: User) -> ExportPlan:
        tables = await self.rows.rows(user.id)
        plan = ExportPlan(
            documents={
                "profile.json": as_record(user),
                **{
                    f"{name}.json": [as_record(row) for row in rows]
                    for name, rows in tables.items()
                },
            }
        )
        seen: set[str] = set()

        def add(name: str, key: str | None) -> None:
            # External pictures (a Google URL) are not ours to fetch; each object goes once.
            if key and not key.startswith(("http://", "https://")) and key not in seen:
                seen.add(key)
                plan.files.append((f"{name}.{_extension(key)}", key))

        add("files/profile_picture", user.userpic)
        for upload in tables["uploads"]:
            add(f"files/uploads/{upload.id}", upload.key)
        image: Image
        for image in tables["images"]:
            add(f"files/images/{image.id}/before", image.input_key)
            add(f"files/images/{image.id}/reference", image.reference_key)
            for column in _IMAGE_FILES:
                add(
                    f"files/images/{image.id}/{column.removesuffix('_key')}", getattr(image, column)
                )
        return plan

    async def stream(self, plan: ExportPlan) -> AsyncIterator[bytes]:
        sink = _Chunks()
        archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED)
        missing: list[str] = []
        for name, document in plan.documents.items():
            # Serialising and deflating a long ledger is CPU work: off the event loop.
            await asyncio.to_thread(_write_document, archive, name, document)
            yield sink.take()
        for name, key in plan.files:
            try:
                data = await self.storage.get(key)
            except ObjectNotFound:
                missing.append(name)
                continue
            # The CRC of a large image is CPU work: off the event loop.
            await asyncio.to_thread(_write_stored, archive, name, data)
            yield sink.take()
        if missing:
            await asyncio.to_thread(_write_document, archive, "missing_files.json", missing)
        archive.close()
        yield sink.take()


def _write_document(archive: zipfile.ZipFile, name: str, document: Any) -> None:
    archive.writestr(name, json.dumps(document, indent=2, ensure_ascii=False))


def _write_stored(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)


class _Chunks:
    """A write-only, unseekable file for `zipfile`: it then writes data descriptors after
    each entry instead of seeking back, so the archive can be sent as it is written."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data
