"""The /api/v1 router: each domain's router is included here."""

from __future__ import annotations

from fastapi import APIRouter

api_router = APIRouter(prefix="/api/v1")
