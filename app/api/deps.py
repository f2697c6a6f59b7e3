"""Dependency aliases the routers use: `SessionDep`, `SettingsDep`, ..."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.resources import Resources

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(request: Request, resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """One session per request, committed once the handler returns.

    `scope="function"` below makes the commit happen before the response is sent, so a failed
    commit becomes an error response instead of a 200 for work that was lost.
    """
    write = request.method not in _SAFE_METHODS
    async with resources.database.unit_of_work(write=write) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
