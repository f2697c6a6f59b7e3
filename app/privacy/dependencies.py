from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends

from app.api.deps import ResourcesDep, SessionDep
from app.auth.dependencies import CurrentUser
from app.core.db import after_commit
from app.files.keys import user_prefix
from app.privacy.export import ExportService
from app.privacy.repository import ExportRepository, PrivacyRepository
from app.privacy.service import PrivacyService
from app.users.repository import UserRepository


def get_privacy_service(session: SessionDep, resources: ResourcesDep) -> PrivacyService:
    folder = resources.settings.GENERATED_IMAGES_FOLDER
    return PrivacyService(
        UserRepository(session),
        PrivacyRepository(session),
        resources.storage,
        partial(user_prefix, folder),
        partial(after_commit, session),
    )


PrivacyServiceDep = Annotated[PrivacyService, Depends(get_privacy_service)]


def get_export_service(session: SessionDep, resources: ResourcesDep) -> ExportService:
    return ExportService(ExportRepository(session), resources.storage)


ExportServiceDep = Annotated[ExportService, Depends(get_export_service)]


async def export_rate_limit(user: CurrentUser, resources: ResourcesDep) -> None:
    """Exports per user (RATE_LIMIT_EXPORT): each one reads all of the person's objects."""
    await resources.limiter.hit(resources.settings.RATE_LIMIT_EXPORT, "export", f"user:{user.id}")


ExportRateLimit = Depends(export_rate_limit)
