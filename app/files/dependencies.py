from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.api.deps import ResourcesDep, SessionDep
from app.files.repository import UploadRepository
from app.files.service import FileService
from app.photos.background import UploadPrecheck


async def get_file_service(session: SessionDep, resources: ResourcesDep) -> FileService:
    precheck = UploadPrecheck(
        resources.database, resources.storage, resources.photo_meter, resources.settings
    )
    return FileService(
        UploadRepository(session),
        resources.storage,
        resources.image_policy,
        resources.settings,
        on_accepted=precheck.on_accepted(session),
    )


FileServiceDep = Annotated[FileService, Depends(get_file_service)]
