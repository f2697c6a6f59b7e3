"""GET /api/v1/image/styles: the public, cacheable style catalogue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from app.api.deps import ResourcesDep, SessionDep
from app.core.types import Text
from app.styles.repository import StyleRepository
from app.styles.schemas import StyleRead
from app.styles.service import StyleService

router = APIRouter(prefix="/image", tags=["styles"])


def get_style_service(session: SessionDep, resources: ResourcesDep) -> StyleService:
    return StyleService(StyleRepository(session), resources.storage, resources.settings)


StyleServiceDep = Annotated[StyleService, Depends(get_style_service)]


@router.get(
    "/styles",
    summary="The style catalogue (public)",
    response_model=list[StyleRead],
    responses={304: {"description": "Not modified (If-None-Match matched the ETag)"}},
)
async def list_styles(
    styles: StyleServiceDep,
    response: Response,
    if_none_match: Annotated[Text | None, Header(max_length=1024)] = None,
) -> list[StyleRead] | Response:
    """Active styles ordered by `sort_order`. Cacheable: send the ETag back in
    `If-None-Match` to get a 304."""
    items, etag = await styles.catalogue()
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return items
