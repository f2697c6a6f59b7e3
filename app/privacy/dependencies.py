from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.api.deps import SessionDep
from app.privacy.service import PrivacyService
from app.users.repository import UserRepository


def get_privacy_service(session: SessionDep) -> PrivacyService:
    return PrivacyService(UserRepository(session))


PrivacyServiceDep = Annotated[PrivacyService, Depends(get_privacy_service)]
