from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.api.deps import SessionDep
from app.auth.dependencies import SessionServiceDep
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService
from app.users.repository import UserRepository
from app.users.service import UserService


def get_user_service(session: SessionDep, sessions: SessionServiceDep) -> UserService:
    return UserService(
        UserRepository(session), CreditsService(CreditLedgerRepository(session)), sessions
    )


UserServiceDep = Annotated[UserService, Depends(get_user_service)]
