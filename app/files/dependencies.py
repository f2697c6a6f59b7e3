from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.api.deps import ResourcesDep, SessionDep
from app.files.repository import UploadRepository
from app.files.service import FileService


def get_file_service(session: SessionDep, resources: ResourcesDep) -> FileService:
    return FileService(
        UploadRepository(session), resources.storage, resources.image_policy, resources.settings
    )


FileServiceDep = Annotated[FileService, Depends(get_file_service)]
