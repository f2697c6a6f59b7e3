"""What the process builds once at start-up and shares: the database and the adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from app.auth.codes import CodeHasher
from app.auth.google import GoogleOAuth
from app.auth.passwords import PasswordHasher
from app.auth.tokens import TokenService
from app.core.config import Settings
from app.core.db import Database
from app.core.rate_limit import IpNetwork, RateLimiter, parse_networks
from app.integrations.email import (
    BrevoSender,
    EmailSender,
    EmailTemplates,
    LocalMailbox,
)


def build_email_sender(settings: Settings) -> EmailSender:
    if settings.EMAIL_BACKEND == "brevo":
        assert settings.BREVO_API_KEY is not None, "validated with the settings"
        return BrevoSender(
            settings.BREVO_API_KEY.get_secret_value(),
            sender_email=settings.MAIL_FROM,
            sender_name=settings.MAIL_FROM_NAME,
            base_url=settings.BREVO_BASE_URL,
        )
    return LocalMailbox(settings.MAIL_DIR, settings.MAIL_FROM, settings.MAIL_FROM_NAME)


def build_token_service(settings: Settings) -> TokenService:
    return TokenService(
        secret_key=settings.SECRET_KEY.get_secret_value(),
        refresh_secret_key=settings.REFRESH_SECRET_KEY.get_secret_value(),
        algorithm=settings.ALGORITHM,
        access_ttl=timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES),
        refresh_ttl=timedelta(minutes=settings.REFRESH_TOKEN_EXPIRE_MINUTES),
    )


def build_google(settings: Settings) -> GoogleOAuth | None:
    if not (settings.GOOGLE_CLIENT_ID and settings.GOOGLE_CLIENT_SECRET):
        return None
    return GoogleOAuth(
        client_id=settings.GOOGLE_CLIENT_ID,
        client_secret=settings.GOOGLE_CLIENT_SECRET.get_secret_value(),
        metadata_url=settings.OIDC_METADATA_URL,
        redirect_url=settings.google_redirect_url,
    )


@dataclass(slots=True)
class Resources:
    settings: Settings
    database: Database
    email_sender: EmailSender
    tokens: TokenService
    codes: CodeHasher
    limiter: RateLimiter
    trusted_proxies: tuple[IpNetwork, ...] = ()
    google: GoogleOAuth | None = None
    passwords: PasswordHasher = field(default_factory=PasswordHasher)
    email_templates: EmailTemplates = field(default_factory=EmailTemplates)

    @classmethod
    def build(cls, settings: Settings, *, database: Database | None = None) -> Resources:
        return cls(
            settings=settings,
            database=database or Database.from_url(settings.DATABASE_URL),
            email_sender=build_email_sender(settings),
            tokens=build_token_service(settings),
            codes=CodeHasher(settings.SECRET_KEY.get_secret_value()),
            limiter=RateLimiter(
                settings.RATE_LIMIT_STORAGE_URL, enabled=settings.RATE_LIMIT_ENABLED
            ),
            trusted_proxies=parse_networks(settings.TRUSTED_PROXIES.split(",")),
            google=build_google(settings),
        )

    async def start(self) -> None:
        # The dummy hash for unknown emails is built now, not on the first login.
        await self.passwords.warm_up()

    async def close(self) -> None:
        await self.database.background.drain()
        if isinstance(self.email_sender, BrevoSender):
            await self.email_sender.aclose()
        await self.database.dispose()
