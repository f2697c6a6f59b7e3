"""What the process builds once at start-up and shares: the database and the adapters."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.config import Settings
from app.core.db import Database


@dataclass(slots=True)
class Resources:
    settings: Settings
    database: Database

    @classmethod
    def build(cls, settings: Settings) -> Resources:
        return cls(settings=settings, database=Database.from_url(settings.DATABASE_URL))

    async def close(self) -> None:
        await self.database.dispose()
