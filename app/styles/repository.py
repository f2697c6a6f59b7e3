from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, literal, select

from app.core.repository import Repository
from app.models import Style


@dataclass(frozen=True, slots=True)
class StyleFacets:
    """Catalogue filters; None leaves a facet open. `tag` is a validated slug (no LIKE
    wildcards can reach the query)."""

    gender: str | None = None
    length: str | None = None
    tag: str | None = None
    category: str | None = None


class StyleRepository(Repository[Style]):
    model = Style

    async def list_active(self, facets: StyleFacets | None = None) -> list[Style]:
        query = select(Style).where(Style.is_active.is_(True), *_filters(facets or StyleFacets()))
        rows = await self.session.scalars(query.order_by(Style.sort_order, Style.id))
        return list(rows)

    async def get_active(self, style_id: int) -> Style | None:
        return await self.session.scalar(
            select(Style).where(Style.id == style_id, Style.is_active.is_(True))
        )


def _filters(facets: StyleFacets) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if facets.gender is not None:
        filters.append(Style.gender == facets.gender)
    if facets.length is not None:
        filters.append(Style.length == facets.length)
    if facets.category is not None:
        filters.append(Style.category == facets.category)
    if facets.tag is not None:
        # Tags are stored "a,b,c": wrapped in commas, a whole tag matches, never a part of one.
        wrapped = literal(",").concat(Style.tags).concat(",")
        filters.append(wrapped.like(f"%,{facets.tag},%"))
    return filters
