"""/api/v1/image: generation and the user's images (SPEC §4, §2)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Response
from fastapi.routing import APIRoute

from app.api.deps import StatusRateLimit
from app.auth.dependencies import CurrentSession, CurrentUser, CurrentUserInUnit
from app.core.openapi import error_responses
from app.core.types import Id, PageLimit, PageNumber, Text
from app.generation.dependencies import (
    GalleryServiceDep,
    GenerationRateLimit,
    GenerationServiceDep,
    StatusReaderDep,
)
from app.generation.schemas import (
    DislikedRead,
    GenerateRequest,
    ImagesPage,
    LikedRead,
    StartedRead,
    StatusRead,
    ViewGenerateRequest,
)
from app.generation.status import status_response

AUTH_ERRORS = ("NO_COOKIES_FOUND", "NOT_AUTHENTICATED", "EMAIL_NOT_VERIFIED", "CSRF_FAILED")
router = APIRouter(prefix="/image", tags=["image"], responses=error_responses(*AUTH_ERRORS))
user_images_router = APIRouter(
    prefix="/user", tags=["user"], responses=error_responses(*AUTH_ERRORS)
)
ImageId = Annotated[Id, Path()]
_SELFIE = "uploads/user_1/selfie.jpg"
# Declared, not built from the schema: a built example would carry both `style_id` and
# `reference_image_url`, which the API refuses (exactly one of them).
GENERATE_EXAMPLES: dict[str, Any] = {
    "style": {
        "summary": "A style, keeping your own colour",
        "value": {"image_input_url": _SELFIE, "style_id": 1},
    },
    "style_in_a_colour": {
        "summary": "A style in a colour from /image/colors",
        "value": {"image_input_url": _SELFIE, "style_id": 1, "hair_color": "copper"},
    },
    "from_a_photo": {
        "summary": "The haircut of a photo you uploaded",
        "value": {"image_input_url": _SELFIE, "reference_image_url": "uploads/user_1/cut.jpg"},
    },
}


@router.post(
    "/generate",
    summary="Try a style, or a haircut from a photo, on your selfie (1 credit)",
    dependencies=[GenerationRateLimit],
    responses=error_responses(
        "STYLE_NOT_FOUND",
        "COLOR_NOT_FOUND",
        "FOREIGN_IMAGE",
        "IMAGE_NOT_FOUND",
        "INVALID_IMAGE",
        "UNSUPPORTED_IMAGE_TYPE",
        "IMAGE_TOO_LARGE",
        "NO_FACE_DETECTED",
        "MULTIPLE_FACES",
        "FACE_TOO_SMALL",
        "PHOTO_TOO_DARK",
        "PHOTO_TOO_BLURRY",
        "INSUFFICIENT_CREDITS",
        "IDEMPOTENCY_KEY_REUSED",
        "RATE_LIMITED",
    ),
)
async def generate(
    body: Annotated[GenerateRequest, Body(openapi_examples=GENERATE_EXAMPLES)],
    user: CurrentUserInUnit,
    generation: GenerationServiceDep,
    idempotency_key: Annotated[Text | None, Header(max_length=255)] = None,
) -> StartedRead:
    """Takes 1 credit when the job is accepted (refunded if it fails) and answers at once;
    poll `/image/status/{image_id}`. The input must be your own upload (URL or key). Give
    exactly one of `style_id` and `reference_image_url` (your own upload of a haircut to copy;
    a face in it is not needed; same cost and refunds; it shows as "Haircut from a photo").
    `hair_color` is an id from `GET /image/colors` (404 `COLOR_NOT_FOUND` otherwise); `keep`,
    the default with a style, keeps your own colour; with a reference the default is the
    reference's colour. The same `Idempotency-Key` within 24 h returns the
    first answer and charges once; sent with other fields (another colour too) it is 422
    `IDEMPOTENCY_KEY_REUSED`.

    Before any credit is taken the photo is checked (422, nothing charged), in this order:
    `PHOTO_TOO_DARK`, `NO_FACE_DETECTED`, `MULTIPLE_FACES`, `FACE_TOO_SMALL`,
    `PHOTO_TOO_BLURRY`; each message says what to do. `GET /files/check` gives the same answer
    without generating."""
    started = await generation.start_generation(
        user,
        body.image_input_url,
        body.style_id,
        idempotency_key,
        hair_color=body.hair_color,
        reference_image_url=body.reference_image_url,
    )
    return StartedRead(image_id=started.image_id, message=started.message)


@router.post(
    "/view-generate",
    summary="Right, left and back views of a finished image (3 credits)",
    dependencies=[GenerationRateLimit],
    responses=error_responses(
        "IMAGE_NOT_FOUND", "IMAGE_NOT_READY", "VIEWS_EXIST", "INSUFFICIENT_CREDITS", "RATE_LIMITED"
    ),
)
async def view_generate(
    body: ViewGenerateRequest, user: CurrentUserInUnit, generation: GenerationServiceDep
) -> StartedRead:
    """The three views run concurrently; each failed view is refunded. While they run the
    image's `status` is `processing` and `views_status` tells their own state."""
    started = await generation.start_views(user, body.image_id)
    return StartedRead(image_id=started.image_id, message=started.message)


@router.get(
    "/status/{image_id}",
    summary="Poll a generation",
    dependencies=[StatusRateLimit],
    response_model=StatusRead,
    responses=error_responses("IMAGE_NOT_FOUND", "RATE_LIMITED"),
)
async def status(image_id: ImageId, identity: CurrentSession, reader: StatusReaderDep) -> Response:
    """The hot path: one indexed read, no outside call. Counts in its own per-user budget
    (RATE_LIMIT_STATUS), never in the general one. The canonical poll is answered ahead of the
    router stack by `app/generation/status_lane.py` with the same steps; this route documents
    it and answers the rest."""
    answer = await reader.status(image_id, identity.user_id, identity.session_id)
    return status_response(answer)


@router.post(
    "/like/{image_id}", summary="Like an image", responses=error_responses("IMAGE_NOT_FOUND")
)
async def like(image_id: ImageId, user: CurrentUser, gallery: GalleryServiceDep) -> LikedRead:
    await gallery.set_liked(image_id, user.id, liked=True)
    return LikedRead(liked=True)


@router.post(
    "/dislike/{image_id}", summary="Dislike an image", responses=error_responses("IMAGE_NOT_FOUND")
)
async def dislike(image_id: ImageId, user: CurrentUser, gallery: GalleryServiceDep) -> DislikedRead:
    await gallery.set_liked(image_id, user.id, liked=False)
    return DislikedRead(disliked=True)


@router.delete(
    "/{image_id}",
    status_code=204,
    summary="Delete an image and its files",
    responses=error_responses("IMAGE_NOT_FOUND"),
)
async def delete_image(
    image_id: ImageId, user: CurrentUser, gallery: GalleryServiceDep
) -> Response:
    await gallery.delete(image_id, user.id)
    return Response(status_code=204)


@user_images_router.get("/images", summary="Your generations, paged")
async def list_images(
    user: CurrentUser,
    gallery: GalleryServiceDep,
    page: Annotated[PageNumber, Query()] = 1,
    limit: Annotated[PageLimit, Query()] = 10,
    favourites: bool = False,
    sort_desc: bool = True,
) -> ImagesPage:
    """`total_images` and `next_page` count only liked images when `favourites=true`."""
    return await gallery.page(
        user.id, page=page, limit=limit, favourites=favourites, newest_first=sort_desc
    )


@user_images_router.get("/uploads", summary="Your 5 most recent input photos")
async def recent_uploads(user: CurrentUser, gallery: GalleryServiceDep) -> list[str]:
    return await gallery.recent_uploads(user.id)


def status_route() -> APIRoute:
    """The declared status route (for `StatusLane`, which answers it ahead of the router)."""
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is status)
