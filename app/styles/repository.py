from __future__ import annotations

from sqlalchemy import select

from app.core.repository import Repository
from app.models import Style


class StyleRepository(Repository[Style]):
    model = Style

    async def list_active(self) -> list[Style]:
        rows = await self.session.scalars(
            select(Style).where(Style.is_active.is_(True)).order_by(Style.sort_order, Style.id)
        )
        return list(rows)

    async def get_active(self, style_id: int) -> Style | None:
        return await self.session.scalar(
            select(Style).where(Style.id == style_id, Style.is_active.is_(True))
        )
