from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.api.deps import ResourcesDep, SessionDep
from app.generation.repository import ImageRepository
from app.sharing.repository import ShareLinkRepository
from app.sharing.service import ShareService


def get_share_service(session: SessionDep, resources: ResourcesDep) -> ShareService:
    return ShareService(
        ShareLinkRepository(session),
        ImageRepository(session),
        resources.storage,
        resources.settings.public_base_url,
        resources.settings.MAX_IMAGE_PIXELS,
    )


ShareServiceDep = Annotated[ShareService, Depends(get_share_service)]
