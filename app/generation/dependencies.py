from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends

from app.api.deps import ResourcesDep, SessionDep
from app.auth.dependencies import CurrentUserInUnit
from app.core.db import after_commit
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService
from app.files.dependencies import FileServiceDep
from app.files.repository import UploadRepository
from app.generation.gallery import GalleryService
from app.generation.repository import (
    AcceptRepository,
    IdempotencyRepository,
    ImageRepository,
    ImageViewRepository,
    JobWrites,
)
from app.generation.result_keys import ResultKeys
from app.generation.service import GenerationService
from app.generation.status import StatusReader
from app.photos.dependencies import PhotoCheckServiceDep


async def get_generation_service(
    session: SessionDep,
    resources: ResourcesDep,
    files: FileServiceDep,
    photos: PhotoCheckServiceDep,
) -> GenerationService:
    settings = resources.settings
    images = ImageRepository(session)
    idempotency = IdempotencyRepository(session)
    return GenerationService(
        images=images,
        accepts=AcceptRepository(session),
        job_writes=JobWrites(images, idempotency),
        views=ImageViewRepository(session),
        idempotency=idempotency,
        uploads=UploadRepository(session),
        files=files,
        credits=CreditsService(
            CreditLedgerRepository(
                session, unsafe_read_modify_write=settings.CREDITS_UNSAFE_READ_MODIFY_WRITE
            )
        ),
        photos=photos,
        queue=resources.queue,
        settings=settings,
        after_commit=partial(after_commit, session),
    )


GenerationServiceDep = Annotated[GenerationService, Depends(get_generation_service)]


async def get_gallery_service(session: SessionDep, resources: ResourcesDep) -> GalleryService:
    return GalleryService(
        ImageRepository(session),
        ImageViewRepository(session),
        resources.storage,
        partial(after_commit, session),
        ResultKeys.from_settings(resources.settings),
    )


GalleryServiceDep = Annotated[GalleryService, Depends(get_gallery_service)]


async def get_status_reader(resources: ResourcesDep) -> StatusReader:
    """The process's one reader: no session, no per-poll construction (app/generation/status.py)."""
    return resources.status_reader


StatusReaderDep = Annotated[StatusReader, Depends(get_status_reader)]


async def generation_rate_limit(user: CurrentUserInUnit, resources: ResourcesDep) -> None:
    """SPEC §8: generation requests per user (5/min by default)."""
    await resources.limiter.hit(
        resources.settings.RATE_LIMIT_GENERATION, "generation", f"user:{user.id}"
    )


GenerationRateLimit = Depends(generation_rate_limit)
