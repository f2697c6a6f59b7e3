from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.core.schemas import InputModel, NormalizedEmail
from app.core.types import SecretText, Text
from app.users.schemas import Name

# New passwords: one line of text (a control character cannot be typed back at login).
Password = Annotated[Text, Field(min_length=8, max_length=128)]
# Login accepts whatever was allowed at signup time (control characters were, NUL never), but
# never an unbounded body nor what UTF-8 cannot encode.
AnyPassword = Annotated[SecretText, Field(min_length=1, max_length=1024)]
Handle = Annotated[Text, Field(min_length=1, max_length=200)]
Code = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]


class SignupRequest(InputModel):
    name: Name
    email: NormalizedEmail
    password: Password


class SignupResponse(BaseModel):
    id: int
    email: str
    name: str
    verified: bool
    verify_token: str


class EmailRequest(InputModel):
    email: NormalizedEmail


class ResendSignupRequest(InputModel):
    email: NormalizedEmail
    # The signup's `verify_token` (or a later resend's `token`): which pending signup to re-send.
    token: Handle | None = None


class CredentialsRequest(InputModel):
    email: NormalizedEmail
    password: AnyPassword


class TokenResponse(BaseModel):
    token: str


class CodeRequest(InputModel):
    token: Handle
    code: Code


class HandleRequest(InputModel):
    token: Handle


class SessionResponse(BaseModel):
    """Whether the credentials sent (access cookie or bearer) are a live session. No secrets."""

    authenticated: bool
    user_id: int | None = Field(default=None, description="Present when authenticated.")
    expires_at: datetime | None = Field(
        default=None,
        description="When the access token sent expires (UTC); refresh before then.",
    )


class VerifiedResponse(BaseModel):
    verified: bool


class ValidResponse(BaseModel):
    valid: bool


class LoginResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RefreshRequest(InputModel):
    refresh_token: Annotated[Text, Field(min_length=1, max_length=4096)] | None = None


class RefreshResponse(LoginResponse):
    verified: bool = True


class MessageResponse(BaseModel):
    message: str


class DetailResponse(BaseModel):
    detail: str


class ResetPasswordRequest(InputModel):
    token: Handle
    new_password: Password
    confirm_password: Password

    @model_validator(mode="after")
    def _passwords_match(self) -> ResetPasswordRequest:
        if self.new_password != self.confirm_password:
            raise ValueError("new_password and confirm_password differ")
        return self
