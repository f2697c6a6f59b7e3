"""Share links (SPEC §4a): the owner's routes under /api/v1/image, and the public page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from fastapi.responses import HTMLResponse

from app.api.deps import default_rate_limit
from app.auth.dependencies import CurrentUser
from app.core.openapi import error_responses
from app.core.types import Id, Text
from app.sharing.dependencies import ShareServiceDep
from app.sharing.exceptions import ShareNotFound
from app.sharing.page import PAGE_HEADERS, render_gone, render_pair
from app.sharing.schemas import ShareRead, ShareRequest
from app.sharing.service import Picture
from app.sharing.tokens import PAGE_PREFIX

AUTH_ERRORS = ("NO_COOKIES_FOUND", "NOT_AUTHENTICATED", "EMAIL_NOT_VERIFIED", "CSRF_FAILED")
router = APIRouter(prefix="/image", tags=["image"], responses=error_responses(*AUTH_ERRORS))
# Outside /api/v1 (a short link to paste in a chat), in the general per-IP budget.
page_router = APIRouter(tags=["share"], dependencies=[Depends(default_rate_limit)])
Token = Annotated[Text, Path(max_length=128, description="The token from the share URL")]
HTML_EXAMPLE = "<!doctype html><html>…before and after…</html>"


@router.post(
    "/{image_id}/share",
    summary="A public before/after link for your hairdresser",
    responses=error_responses("IMAGE_NOT_FOUND", "IMAGE_NOT_READY"),
)
async def share(
    image_id: Annotated[Id, Path()], body: ShareRequest, user: CurrentUser, shares: ShareServiceDep
) -> ShareRead:
    """Anyone with the URL sees this image's before and after (and the style's name; nothing
    else of the account) until `expires_at`, `expires_in_hours` (1..720) from now. Sharing
    again gives a new URL and the earlier one stops working. The link dies when it is
    revoked, or with the image or the account."""
    created = await shares.share(user.id, image_id, body.expires_in_hours)
    return ShareRead(url=created.url, expires_at=created.expires_at)


@router.delete(
    "/{image_id}/share",
    status_code=204,
    summary="Revoke the image's share link",
    responses=error_responses("IMAGE_NOT_FOUND"),
)
async def revoke_share(
    image_id: Annotated[Id, Path()], user: CurrentUser, shares: ShareServiceDep
) -> Response:
    """Idempotent: an image without a link answers 204 too."""
    await shares.revoke(user.id, image_id)
    return Response(status_code=204)


@page_router.get(
    f"{PAGE_PREFIX}{{token}}",
    summary="The public before/after page of a share link",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {"example": HTML_EXAMPLE}}},
        404: {
            "description": "An unknown, expired or revoked link (an HTML page)",
            "content": {"text/html": {"example": HTML_EXAMPLE}},
        },
    },
)
async def share_page(token: Token, shares: ShareServiceDep) -> HTMLResponse:
    """Server-rendered, no script; Open Graph tags with a small side-by-side preview, so a
    chat app shows the pair. Not cached, not indexed."""
    try:
        pair = await shares.pair(token)
    except ShareNotFound:
        return HTMLResponse(render_gone(), status_code=404, headers=PAGE_HEADERS)
    return HTMLResponse(render_pair(pair), headers=PAGE_HEADERS)


def _picture_route(picture: Picture) -> None:
    async def share_picture(token: Token, shares: ShareServiceDep) -> Response:
        found = await shares.picture(token, picture)
        return Response(
            found.data,
            media_type=found.content_type,
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "X-Robots-Tag": "noindex",
            },
        )

    page_router.add_api_route(
        f"{PAGE_PREFIX}{{token}}/{picture}",
        share_picture,
        methods=["GET"],
        name=f"share_{picture}",
        summary=f"The {picture} picture of a share page",
        description="Served only for a live link, never cached: a revoked link shows nothing "
        "any more. `preview` is a small side-by-side JPEG (the page's Open Graph image).",
        response_class=Response,
        responses={
            200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
            **error_responses("SHARE_NOT_FOUND"),
        },
    )


for _picture in Picture:
    _picture_route(_picture)
