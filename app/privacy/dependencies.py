from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.api.deps import ResourcesDep, SessionDep
from app.privacy.export import ExportService
from app.privacy.repository import ExportRepository
from app.privacy.service import PrivacyService
from app.users.repository import UserRepository


def get_privacy_service(session: SessionDep) -> PrivacyService:
    return PrivacyService(UserRepository(session))


PrivacyServiceDep = Annotated[PrivacyService, Depends(get_privacy_service)]


def get_export_service(session: SessionDep, resources: ResourcesDep) -> ExportService:
    return ExportService(ExportRepository(session), resources.storage)


ExportServiceDep = Annotated[ExportService, Depends(get_export_service)]
