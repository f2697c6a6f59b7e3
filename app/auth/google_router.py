"""/api/v1/auth/google: Google sign-in. The callback always ends in a redirect to the web app,
never a JSON page (SPEC §1)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from app.api.deps import ResourcesDep
from app.auth.dependencies import CookiePolicyDep, GoogleAccountServiceDep
from app.auth.google import GoogleSignInFailed
from app.core.config import Settings
from app.core.errors import AppError

router = APIRouter(prefix="/auth", tags=["auth"])

GOOGLE_NOT_CONFIGURED = "Google sign-in is not available on this server."


@router.get(
    "/google",
    summary="Start Google sign-in (redirects to Google)",
    response_class=RedirectResponse,
    status_code=302,
)
async def google_login(request: Request, resources: ResourcesDep) -> Response:
    """Redirects to Google; on any problem, to `{FRONTEND_URL}/auth/callback?error=...`."""
    if resources.google is None:
        return _google_failure(resources.settings, GOOGLE_NOT_CONFIGURED)
    try:
        return await resources.google.authorization_redirect(request)
    except GoogleSignInFailed as exc:
        return _google_failure(resources.settings, str(exc))


@router.get(
    "/google/callback",
    summary="Google's redirect back: always redirects to the web app",
    response_class=RedirectResponse,
    status_code=302,
)
async def google_callback(
    request: Request,
    resources: ResourcesDep,
    accounts: GoogleAccountServiceDep,
    cookies: CookiePolicyDep,
) -> Response:
    """Ends in `{FRONTEND_URL}/auth/callback?success=true` with the session cookies, or
    `?error=<message>`; never a JSON page."""
    settings = resources.settings
    if resources.google is None:
        return _google_failure(settings, GOOGLE_NOT_CONFIGURED)
    try:
        identity = await resources.google.identity_from_callback(request)
        signed_in = await accounts.sign_in(identity)
    except (GoogleSignInFailed, AppError) as exc:
        message = exc.detail_message if isinstance(exc, AppError) else str(exc)
        return _google_failure(settings, message)
    response = RedirectResponse(
        f"{settings.frontend_origin}/auth/callback?success=true", status_code=302
    )
    cookies.set_session(response, signed_in.tokens)
    return response


def _google_failure(settings: Settings, message: str) -> RedirectResponse:
    return RedirectResponse(
        f"{settings.frontend_origin}/auth/callback?error={quote(message)}", status_code=302
    )
