"""GET /api/v1/image/styles and /image/colors: the public, cacheable catalogues.

Included in /api/v1 before the generation router, so these fixed paths are declared before
`/image/{image_id}` (tests/generation/test_colors.py checks the colours still answer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from app.api.deps import ResourcesDep, SessionDep
from app.core.types import Text
from app.styles.colors import HAIR_COLORS
from app.styles.repository import StyleFacets, StyleRepository
from app.styles.schemas import TAG_PATTERN, Category, ColorRead, Gender, Length, StyleRead
from app.styles.service import StyleService

router = APIRouter(prefix="/image", tags=["styles"])


def get_style_service(session: SessionDep, resources: ResourcesDep) -> StyleService:
    return StyleService(StyleRepository(session), resources.storage, resources.settings)


StyleServiceDep = Annotated[StyleService, Depends(get_style_service)]


@router.get(
    "/styles",
    summary="The style catalogue (public)",
    response_model=list[StyleRead],
    responses={
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        422: {"description": "A facet value that is not one of its values"},
    },
)
async def list_styles(
    styles: StyleServiceDep,
    response: Response,
    gender: Annotated[Gender | None, Query(description="female, male or unisex")] = None,
    length: Annotated[Length | None, Query(description="short, medium or long")] = None,
    tag: Annotated[
        str | None, Query(max_length=24, pattern=TAG_PATTERN, description="one tag, e.g. `curls`")
    ] = None,
    category: Annotated[Category | None, Query(description="standard or celebrity")] = None,
    if_none_match: Annotated[Text | None, Header(max_length=1024)] = None,
) -> list[StyleRead] | Response:
    """Active styles ordered by `sort_order`, filtered by any of `gender`, `length`, `tag` and
    `category` (all must match; a unisex style is listed under `gender=unisex` only). A value
    outside a facet's values is a 422 validation list. Cacheable: send the ETag back in
    `If-None-Match` to get a 304."""
    facets = StyleFacets(gender=gender, length=length, tag=tag, category=category)
    items, etag = await styles.catalogue(facets)
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return items


_COLORS = [ColorRead(id=c.id, name=c.name, hex=c.hex) for c in HAIR_COLORS]


@router.get("/colors", summary="The hair colour catalogue (public)", response_model=list[ColorRead])
async def list_colors(response: Response) -> list[ColorRead]:
    """Colours to pick apart from the style (`hair_color` of `POST /image/generate`), `keep`
    (the person's own colour, the default) first. Fixed in code: cacheable for a day."""
    response.headers["Cache-Control"] = "public, max-age=86400"
    return _COLORS
