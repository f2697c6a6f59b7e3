"""The /api/v1 router: each domain's router is included here."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.deps import default_rate_limit
from app.auth.router import router as auth_router
from app.files.router import router as files_router
from app.users.router import router as users_router

api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(default_rate_limit)])
api_router.include_router(auth_router)
api_router.include_router(users_router)
api_router.include_router(files_router)
