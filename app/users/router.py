"""/api/v1/user: the signed-in user's account (SPEC §2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import CurrentUser
from app.core.body_limit import reads_own_body
from app.core.openapi import error_responses, multipart_file_body
from app.core.types import PageLimit, PageNumber
from app.files.dependencies import FileServiceDep
from app.files.forms import file_bytes, read_capped_form
from app.users.dependencies import UserServiceDep
from app.users.schemas import CreditEntryRead, CreditHistoryRead, ProfileUpdate, UserRead

AUTH_ERRORS = ("NO_COOKIES_FOUND", "NOT_AUTHENTICATED", "EMAIL_NOT_VERIFIED", "CSRF_FAILED")

router = APIRouter(prefix="/user", tags=["user"], responses=error_responses(*AUTH_ERRORS))


@router.get("/me", summary="The signed-in user")
async def me(user: CurrentUser, users: UserServiceDep) -> UserRead:
    return await users.present(user)


PROFILE_ERRORS = error_responses("IMAGE_NOT_FOUND", "INVALID_IMAGE", "UNSUPPORTED_IMAGE_TYPE")


@router.put("/profile", summary="Update the profile", responses=PROFILE_ERRORS)
async def update_profile(body: ProfileUpdate, user: CurrentUser, users: UserServiceDep) -> UserRead:
    """Only `name` and `userpic_key` (one of your uploads) can change here; credits, email,
    role and verification cannot."""
    return await users.update_profile(user, name=body.name, userpic_key=body.userpic_key)


router.add_api_route(
    "/profile",
    update_profile,
    methods=["PATCH"],
    summary="Update the profile (partial)",
    name="patch_profile",
    response_model=UserRead,
    # The same handler as PUT: the same answers.
    responses=PROFILE_ERRORS,
)


@router.post(
    "/profile/picture",
    summary="Upload a profile picture (multipart `file`)",
    openapi_extra=multipart_file_body("The picture: JPEG, PNG or WebP, up to MAX_IMAGE_SIZE_MB"),
    responses=error_responses("INVALID_IMAGE", "UNSUPPORTED_IMAGE_TYPE", "IMAGE_TOO_LARGE"),
)
@reads_own_body
async def upload_picture(
    request: Request, user: CurrentUser, users: UserServiceDep, files: FileServiceDep
) -> UserRead:
    """Checked like every image: type by content, decode, pixel cap, metadata removed."""
    form = await read_capped_form(request, files.policy.max_bytes)
    return await users.set_picture(user, await file_bytes(form))


@router.get("/credits", summary="The credit balance, as a bare integer")
async def credits(user: CurrentUser) -> int:
    return user.credits


@router.get("/credits/history", summary="Every change of the balance, newest first")
async def credit_history(
    user: CurrentUser,
    users: UserServiceDep,
    page: Annotated[PageNumber, Query()] = 1,
    limit: Annotated[PageLimit, Query()] = 20,
) -> CreditHistoryRead:
    entries, total = await users.credit_history(user, page=page, limit=limit)
    return CreditHistoryRead(
        entries=[CreditEntryRead.model_validate(e, from_attributes=True) for e in entries],
        page=page,
        limit=limit,
        total=total,
        next_page=page + 1 if page * limit < total else None,
    )


@router.delete("/me", status_code=204, summary="Delete the account and its data")
async def delete_me(user: CurrentUser, users: UserServiceDep) -> Response:
    await users.delete_account(user)
    return Response(status_code=204)
