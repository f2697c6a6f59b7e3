from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends

from app.api.deps import ResourcesDep, SessionDep
from app.auth.dependencies import SessionServiceDep
from app.core.db import after_commit
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService
from app.files.dependencies import FileServiceDep
from app.users.repository import UserRepository
from app.users.service import UserService


def get_user_service(
    session: SessionDep,
    resources: ResourcesDep,
    sessions: SessionServiceDep,
    files: FileServiceDep,
) -> UserService:
    return UserService(
        UserRepository(session),
        CreditsService(CreditLedgerRepository(session)),
        sessions,
        files,
        resources.storage,
        resources.settings,
        partial(after_commit, session),
    )


UserServiceDep = Annotated[UserService, Depends(get_user_service)]
