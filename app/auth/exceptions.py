"""The auth error codes of SPEC §0, one class each."""

from __future__ import annotations

from app.core.errors import AppError, NotAuthenticated


class NoCookiesFound(AppError):
    # 400, not 401: the web app tells "anonymous" from "session expired" by this code.
    status_code = 400
    code = "NO_COOKIES_FOUND"
    message = "No session credentials were sent."


class InvalidCredentials(AppError):
    status_code = 400
    code = "INVALID_CREDENTIALS"
    message = "The email or password is incorrect."


class InvalidLogin(NotAuthenticated):
    """Direct login failure: 401 so OAuth2 clients (Swagger UI) handle it as they expect."""

    code = "INVALID_CREDENTIALS"
    message = "The email or password is incorrect."


class EmailNotVerified(AppError):
    status_code = 403
    code = "EMAIL_NOT_VERIFIED"
    message = "Verify your email address first."


class EmailCodeRequired(AppError):
    status_code = 403
    code = "EMAIL_CODE_REQUIRED"
    message = "Sign in with the code sent to your email (request-login-token)."


class EmailTaken(AppError):
    status_code = 409
    code = "EMAIL_TAKEN"
    message = "An account with this email already exists."


class AlreadyVerified(AppError):
    status_code = 400
    code = "ALREADY_VERIFIED"
    message = "This email address is already verified."


class UserNotFound(AppError):
    status_code = 404
    code = "USER_NOT_FOUND"
    message = "No account uses this email address."


class InvalidCode(AppError):
    status_code = 400
    code = "INVALID_CODE"
    message = "The code is not correct."
    # The failed attempt must be counted although the request fails.
    persist_changes = True


class CodeExpired(AppError):
    status_code = 400
    code = "CODE_EXPIRED"
    message = "The code has expired; request a new one."


class TooManyAttempts(AppError):
    status_code = 429
    code = "TOO_MANY_ATTEMPTS"
    message = "Too many wrong codes; request a new one."
    persist_changes = True


class InvalidToken(AppError):
    status_code = 400
    code = "INVALID_TOKEN"
    message = "The link or token is invalid or has expired."


class CsrfFailed(AppError):
    status_code = 403
    code = "CSRF_FAILED"
    message = "The request's origin is not allowed."
