from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.api.deps import ResourcesDep, SessionDep
from app.files.dependencies import FileServiceDep
from app.photos.repository import PhotoCheckRepository
from app.photos.service import PhotoCheckService


async def get_photo_check_service(
    session: SessionDep, resources: ResourcesDep, files: FileServiceDep
) -> PhotoCheckService:
    return PhotoCheckService(
        PhotoCheckRepository(session),
        files,
        resources.storage,
        resources.photo_meter,
        resources.settings,
    )


PhotoCheckServiceDep = Annotated[PhotoCheckService, Depends(get_photo_check_service)]
