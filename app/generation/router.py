"""/api/v1/image: generation and the user's images (SPEC §4, §2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from app.api.deps import StatusRateLimit
from app.auth.dependencies import CurrentSession, CurrentUser
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

AUTH_ERRORS = ("NO_COOKIES_FOUND", "NOT_AUTHENTICATED", "EMAIL_NOT_VERIFIED", "CSRF_FAILED")
router = APIRouter(prefix="/image", tags=["image"], responses=error_responses(*AUTH_ERRORS))
user_images_router = APIRouter(
    prefix="/user", tags=["user"], responses=error_responses(*AUTH_ERRORS)
)
ImageId = Annotated[Id, Path()]


@router.post(
    "/generate",
    summary="Try a style on your selfie (1 credit)",
    dependencies=[GenerationRateLimit],
    responses=error_responses(
        "STYLE_NOT_FOUND",
        "FOREIGN_IMAGE",
        "IMAGE_NOT_FOUND",
        "INVALID_IMAGE",
        "UNSUPPORTED_IMAGE_TYPE",
        "IMAGE_TOO_LARGE",
        "NO_FACE_DETECTED",
        "INSUFFICIENT_CREDITS",
        "IDEMPOTENCY_KEY_REUSED",
        "RATE_LIMITED",
    ),
)
async def generate(
    body: GenerateRequest,
    user: CurrentUser,
    generation: GenerationServiceDep,
    idempotency_key: Annotated[Text | None, Header(max_length=255)] = None,
) -> StartedRead:
    """Takes 1 credit when the job is accepted (refunded if it fails) and answers at once;
    poll `/image/status/{image_id}`. The input must be your own upload (URL or key). The same
    `Idempotency-Key` within 24 h returns the first answer and charges once."""
    started = await generation.start_generation(
        user, body.image_input_url, body.style_id, idempotency_key
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
    body: ViewGenerateRequest, user: CurrentUser, generation: GenerationServiceDep
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
    (RATE_LIMIT_STATUS), never in the general one."""
    answer = await reader.status(image_id, identity.user_id, identity.session_id)
    # Serialised here, once: the declared response_model documents it, and FastAPI does not
    # validate and encode the model a second time.
    return Response(answer.model_dump_json(), media_type="application/json", headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store"}


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
