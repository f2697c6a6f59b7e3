"""The public style catalogue."""

from __future__ import annotations

import hashlib
import json
from typing import cast

from app.core.config import Settings
from app.integrations.storage import Storage
from app.models import Style
from app.styles.repository import StyleFacets, StyleRepository
from app.styles.schemas import Gender, Length, StyleRead

STATIC_PREFIX = "static/"


class StyleService:
    def __init__(self, styles: StyleRepository, storage: Storage, settings: Settings) -> None:
        self.styles = styles
        self.storage = storage
        self.settings = settings

    async def catalogue(self, facets: StyleFacets | None = None) -> tuple[list[StyleRead], str]:
        """The active styles in order (those matching `facets`), and an ETag over exactly what
        is sent."""
        items = [await self._read(style) for style in await self.styles.list_active(facets)]
        payload = json.dumps([item.model_dump() for item in items], sort_keys=True)
        return items, f'"{hashlib.sha256(payload.encode()).hexdigest()[:32]}"'

    async def thumbnail_url(self, style: Style) -> str:
        if style.thumbnail.startswith(STATIC_PREFIX):
            return f"{self.settings.public_base_url}/{style.thumbnail}"
        return await self.storage.url_for(style.thumbnail)

    async def _read(self, style: Style) -> StyleRead:
        return StyleRead(
            id=style.id,
            name=style.name,
            category="celebrity" if style.category == "celebrity" else "standard",
            image_url=await self.thumbnail_url(style),
            description=style.description,
            # CHECK constraints hold these to the Literal values (and pydantic checks again).
            gender=cast(Gender, style.gender),
            length=cast(Length, style.length),
            tags=[tag for tag in style.tags.split(",") if tag],
        )
