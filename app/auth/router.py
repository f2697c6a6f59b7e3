"""/api/v1/auth: the web app's sign-up and sign-in flows (SPEC §1)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.api.deps import (
    BruteForceRateLimit,
    CheckRateLimit,
    ResendRateLimit,
    SettingsDep,
)
from app.auth.cookies import REFRESH_COOKIE
from app.auth.csrf import enforce_same_origin
from app.auth.dependencies import (
    AccessCredentialsDep,
    AccountServiceDep,
    CookiePolicyDep,
    PasswordResetServiceDep,
    SessionServiceDep,
    SignInCsrf,
)
from app.auth.exceptions import NoCookiesFound
from app.auth.login_form import LOGIN_OPENAPI, read_login_credentials
from app.auth.schemas import (
    CodeRequest,
    CredentialsRequest,
    DetailResponse,
    EmailRequest,
    HandleRequest,
    LoginResponse,
    MessageResponse,
    RefreshRequest,
    RefreshResponse,
    ResendSignupRequest,
    ResetPasswordRequest,
    SessionResponse,
    SignupRequest,
    SignupResponse,
    TokenResponse,
    ValidResponse,
    VerifiedResponse,
)
from app.auth.sessions import SessionTokens
from app.core.errors import AppError, NotAuthenticated, error_response
from app.core.openapi import error_responses
from app.core.types import Text

router = APIRouter(prefix="/auth", tags=["auth"], responses=error_responses("RATE_LIMITED"))
# Budgets follow what they protect (SPEC §8), each per client IP, instead of the general one;
# the services add per-account budgets. Refresh, logout and session stay on the general
# budget: tabs refresh together.
LIMITED = [BruteForceRateLimit]
CHECKS = [CheckRateLimit]
RESENDS = [ResendRateLimit]
# The endpoints that sign in and set the session cookies also refuse cross-site browsers
# (login CSRF); API clients that send no Origin/Referer are unaffected.
SIGNS_IN = [BruteForceRateLimit, SignInCsrf]

RESET_ANSWER = "If an account uses this email, a reset link is on its way."


def _login_body(tokens: SessionTokens) -> LoginResponse:
    return LoginResponse(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.access_expires_in,
    )


@router.post(
    "/signup",
    dependencies=LIMITED,
    summary="Create an account and email a verification code",
    responses=error_responses("EMAIL_TAKEN"),
)
async def signup(body: SignupRequest, accounts: AccountServiceDep) -> SignupResponse:
    """Creates an unverified user and emails a 6-digit code and a verification link.
    `verify_token` is the handle to send back with the code to `/verify-signup`.

    Signing up again on an address that is not verified yet is a new, separate pending
    registration: it never changes the stored name or password. Whichever signup's code or
    link is redeemed, that signup's name and password become the account's, and the other
    pending signups expire."""
    pending = await accounts.sign_up(body.name, body.email, body.password)
    user = pending.user
    return SignupResponse(
        id=user.id,
        email=user.email,
        name=pending.name,
        verified=user.verified,
        verify_token=pending.handle,
    )


router.add_api_route(
    "/register",
    signup,
    dependencies=LIMITED,
    methods=["POST"],
    summary="Alias of /signup",
    name="register",
    responses=error_responses("EMAIL_TAKEN"),
    response_model=SignupResponse,
)


@router.post(
    "/request-signup-token",
    dependencies=RESENDS,
    summary="Send a new verification code",
    responses=error_responses("ALREADY_VERIFIED", "USER_NOT_FOUND", "INVALID_TOKEN"),
)
async def request_signup_token(
    body: ResendSignupRequest, accounts: AccountServiceDep
) -> TokenResponse:
    """Emails a new code and link for one pending signup, replacing its old code. Send the
    `verify_token` from `/signup` (or the last `token` from here) as `token` to pick your own
    signup; without it the newest signup on the address is re-sent. The new code activates
    that signup's name and password only."""
    token = await accounts.resend_signup_code(body.email, body.token)
    return TokenResponse(token=token)


@router.post(
    "/verify-signup",
    dependencies=SIGNS_IN,
    summary="Verify the email with the emailed code; signs in",
    responses=error_responses(
        "INVALID_CODE", "CODE_EXPIRED", "TOO_MANY_ATTEMPTS", "INVALID_TOKEN", "CSRF_FAILED"
    ),
)
async def verify_signup(
    body: CodeRequest, accounts: AccountServiceDep, cookies: CookiePolicyDep, response: Response
) -> VerifiedResponse:
    signed_in = await accounts.verify_signup(body.token, body.code)
    cookies.set_session(response, signed_in.tokens)
    return VerifiedResponse(verified=True)


@router.get(
    "/verify",
    dependencies=LIMITED,
    summary="The verification link from the email",
    response_model=VerifiedResponse,
    responses={
        307: {"description": "Redirect to the web app, signed in"},
        **error_responses("INVALID_TOKEN"),
    },
)
async def verify_link(
    request: Request,
    token: Annotated[Text, Query(min_length=1, max_length=200)],
    accounts: AccountServiceDep,
    cookies: CookiePolicyDep,
    settings: SettingsDep,
) -> Response:
    """Redirects to `{FRONTEND_URL}/try` with the session cookies, or to
    `{FRONTEND_URL}/try?error=...` when the link is invalid; answers JSON instead when the
    client asks for `application/json`."""
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        signed_in = await accounts.verify_signup_link(token)
    except AppError as exc:
        if wants_json:
            raise
        return RedirectResponse(
            f"{settings.frontend_origin}/try?error={quote(exc.detail_message)}", status_code=307
        )
    response: Response = (
        JSONResponse({"verified": True})
        if wants_json
        else RedirectResponse(f"{settings.frontend_origin}/try", status_code=307)
    )
    cookies.set_session(response, signed_in.tokens)
    return response


@router.post(
    "/request-login-token",
    dependencies=LIMITED,
    summary="Check the password and email a login code",
    responses=error_responses("INVALID_CREDENTIALS", "EMAIL_NOT_VERIFIED"),
)
async def request_login_token(
    body: CredentialsRequest, accounts: AccountServiceDep
) -> TokenResponse:
    """Emails a 6-digit code for `/verify-login` when the password is right. Only wrong
    passwords count against the account's limit. Once that limit is spent (an attack), this
    answers 200 with a `token` whatever the password, and emails a code only for the right one:
    the owner can always sign in with their password and the emailed code, while a guesser gets
    no more verdicts. If no code arrives, the password was wrong."""
    return TokenResponse(token=await accounts.request_login_code(body.email, body.password))


@router.post(
    "/verify-login",
    dependencies=SIGNS_IN,
    summary="Sign in with the emailed login code",
    responses=error_responses(
        "INVALID_CODE", "CODE_EXPIRED", "TOO_MANY_ATTEMPTS", "INVALID_TOKEN", "CSRF_FAILED"
    ),
)
async def verify_login(
    body: CodeRequest, accounts: AccountServiceDep, cookies: CookiePolicyDep, response: Response
) -> VerifiedResponse:
    signed_in = await accounts.verify_login(body.token, body.code)
    cookies.set_session(response, signed_in.tokens)
    return VerifiedResponse(verified=True)


@router.post("/verify-code-token", dependencies=CHECKS, summary="Is a code handle still usable?")
async def verify_code_token(body: HandleRequest, accounts: AccountServiceDep) -> ValidResponse:
    return ValidResponse(valid=await accounts.is_code_handle_valid(body.token))


@router.post(
    "/check-email-status",
    dependencies=CHECKS,
    summary="Is this email's account verified?",
    responses=error_responses("USER_NOT_FOUND"),
)
async def check_email_status(body: EmailRequest, accounts: AccountServiceDep) -> VerifiedResponse:
    return VerifiedResponse(verified=await accounts.is_email_verified(body.email))


@router.post(
    "/login",
    dependencies=SIGNS_IN,
    summary="Direct login (JSON or OAuth2 password form)",
    openapi_extra=LOGIN_OPENAPI,
    responses={
        # A wrong password is 401 here (OAuth2 clients such as Swagger UI expect it).
        **error_responses(
            "INVALID_CREDENTIALS",
            "EMAIL_NOT_VERIFIED",
            "EMAIL_CODE_REQUIRED",
            "CSRF_FAILED",
            status_of={"INVALID_CREDENTIALS": 401},
        ),
        # The body is read by hand (JSON or form), so FastAPI does not add its own 422.
        422: {"description": "The request validation list"},
    },
)
async def login(
    credentials: Annotated[CredentialsRequest, Depends(read_login_credentials)],
    accounts: AccountServiceDep,
    cookies: CookiePolicyDep,
    response: Response,
) -> LoginResponse:
    """For API clients and Swagger UI. Refused with `EMAIL_CODE_REQUIRED` when
    `REQUIRE_LOGIN_CODE=true`; the web app signs in with a code instead. Only wrong passwords
    count against the account's limit; once it is spent this answers 429 without checking the
    password, and `/request-login-token` + `/verify-login` (password and emailed code) is the
    way in. A browser request
    from another site (its Origin, Referer or `Sec-Fetch-Site` says so) is refused with
    `CSRF_FAILED`; clients that send none of those headers are not affected."""
    signed_in = await accounts.log_in(credentials.email, credentials.password)
    cookies.set_session(response, signed_in.tokens)
    return _login_body(signed_in.tokens)


@router.post(
    "/refresh",
    summary="Rotate the refresh token and get a new access token",
    response_model=RefreshResponse,
    responses=error_responses("NO_COOKIES_FOUND", "NOT_AUTHENTICATED", "CSRF_FAILED"),
)
async def refresh(
    request: Request,
    accounts: AccountServiceDep,
    cookies: CookiePolicyDep,
    settings: SettingsDep,
    response: Response,
    body: Annotated[RefreshRequest | None, Body()] = None,
) -> Response | RefreshResponse:
    """Takes the `refresh_token` cookie or body field. A token presented again within
    `REFRESH_REUSE_GRACE_S` of its rotation still gets a session (tabs refreshing together);
    later, it ends the whole session. A cookie refresh that fails also clears the cookies."""
    token = body.refresh_token if body else None
    if not token:
        token = request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise NoCookiesFound()
        enforce_same_origin(request, settings)
    try:
        tokens = await accounts.refresh(token)
    except NotAuthenticated as exc:
        if body and body.refresh_token:
            raise
        # The browser's session is over (revoked, expired, reused): clear its cookies, the
        # has_session marker too, so its next calls answer "anonymous", not 401 forever.
        # Answering instead of raising commits like a raise would with persist_changes,
        # and nothing else is written on a failed refresh.
        ended = error_response(exc.status_code, exc.code, exc.detail_message, exc.headers)
        cookies.clear(ended)
        return ended
    cookies.set_session(response, tokens)
    return RefreshResponse(**_login_body(tokens).model_dump(), verified=True)


@router.post(
    "/logout",
    summary="End the session and clear the cookies",
    responses=error_responses("CSRF_FAILED"),
)
async def logout(
    request: Request,
    credentials: AccessCredentialsDep,
    accounts: AccountServiceDep,
    sessions: SessionServiceDep,
    cookies: CookiePolicyDep,
    settings: SettingsDep,
    response: Response,
) -> MessageResponse:
    """Revokes the session (its refresh family and every access token issued from it)."""
    refresh_cookie = request.cookies.get(REFRESH_COOKIE)
    if (credentials is None and refresh_cookie) or (credentials and credentials.via_cookie):
        enforce_same_origin(request, settings)
    session_id = sessions.session_of(credentials.token) if credentials else None
    if session_id is None and refresh_cookie:
        session_id = sessions.session_of_refresh(refresh_cookie)
    await accounts.log_out(session_id)
    cookies.clear(response)
    return MessageResponse(message="Logged out.")


@router.get("/session", summary="Am I signed in? (no side effects)")
async def current_session(
    credentials: AccessCredentialsDep, sessions: SessionServiceDep
) -> SessionResponse:
    """Reads the access token (cookie or bearer) without refusing anyone: 200 with
    `authenticated: false` for anonymous callers and for expired or revoked tokens (then
    `POST /refresh` may still work), else the user id and when the token expires."""
    described = await sessions.describe(credentials.token) if credentials else None
    if described is None:
        return SessionResponse(authenticated=False)
    user_id, expires_at = described
    return SessionResponse(authenticated=True, user_id=user_id, expires_at=expires_at)


@router.post("/forgot-password", dependencies=RESENDS, summary="Email a password reset link")
async def forgot_password(body: EmailRequest, resets: PasswordResetServiceDep) -> DetailResponse:
    """Answers the same whether or not an account uses the email, after the same work: the
    account lookup and the mail happen after the response. Past the per-address limit the
    answer is still the same and no new mail is sent; earlier links stay valid until one is
    used."""
    await resets.request(body.email)
    return DetailResponse(detail=RESET_ANSWER)


@router.post(
    "/verify-reset-token",
    dependencies=CHECKS,
    summary="Is a reset token still usable?",
    responses=error_responses("INVALID_TOKEN"),
)
async def verify_reset_token(body: HandleRequest, resets: PasswordResetServiceDep) -> ValidResponse:
    await resets.check(body.token)
    return ValidResponse(valid=True)


@router.post(
    "/reset-password",
    dependencies=LIMITED,
    summary="Set a new password with a reset token",
    responses=error_responses("INVALID_TOKEN"),
)
async def reset_password(
    body: ResetPasswordRequest, resets: PasswordResetServiceDep
) -> DetailResponse:
    """Single use; ends every session of the account."""
    await resets.reset(body.token, body.new_password)
    return DetailResponse(detail="Your password has been reset. Sign in with the new one.")
