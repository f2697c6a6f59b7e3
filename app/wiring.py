"""The composition root: reads settings and builds the database, adapters and the process's
`Resources`. It belongs to the entry layer (beside app/main.py, used by it and by the job
worker), so `app/core` stays infrastructure that imports no domain or integration."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import httpx

from app.auth.codes import CodeHasher
from app.auth.google import GoogleOAuth
from app.auth.google_pictures import GOOGLE_PICTURE_HOSTS
from app.auth.passwords import PasswordHasher
from app.auth.tokens import TokenService
from app.core.config import Settings
from app.core.db import Database, PoolSettings
from app.core.rate_limit import RateLimiter, parse_networks
from app.core.slots import MachineSlots
from app.files.intake import ImagePolicy
from app.integrations.email import BrevoSender, EmailSender, LocalMailbox
from app.integrations.fetcher import SafeFetcher
from app.integrations.generator import Generator, LocalGenerator
from app.integrations.generator.replicate import (
    OUTPUT_HOSTS,
    ReplicateConfig,
    ReplicateGenerator,
    is_public_url,
)
from app.integrations.payments.local import LocalCheckout, local_webhook_secret
from app.integrations.payments.port import PaymentProvider
from app.integrations.storage import Storage
from app.integrations.storage.local import LocalStorage
from app.integrations.webhooks import WebhookVerifier
from app.photos.meter import PhotoMeter
from app.resources import Resources


def build_resources(settings: Settings, *, database: Database | None = None) -> Resources:
    """Everything the process shares, built once at start-up."""
    return Resources(
        settings=settings,
        database=database or build_database(settings),
        email_sender=build_email_sender(settings),
        tokens=build_token_service(settings),
        codes=CodeHasher(settings.SECRET_KEY.get_secret_value()),
        limiter=RateLimiter(settings.RATE_LIMIT_STORAGE_URL, enabled=settings.RATE_LIMIT_ENABLED),
        trusted_proxies=parse_networks(settings.TRUSTED_PROXIES.split(",")),
        google=build_google(settings),
        storage=build_storage(settings),
        image_policy=build_image_policy(settings),
        generator=build_generator(settings),
        picture_fetcher=build_picture_fetcher(settings),
        photo_meter=PhotoMeter(settings.MAX_IMAGE_PIXELS),
        payments=build_payment_provider(settings),
        webhook_verifier=build_webhook_verifier(settings),
        passwords=build_password_hasher(settings),
    )


def build_password_hasher(settings: Settings) -> PasswordHasher:
    """Hashing capped per machine: every process with the same lock directory shares the
    PASSWORD_HASH_CONCURRENCY slots (app/core/slots.py)."""
    return PasswordHasher(
        slots=MachineSlots(settings.password_hash_lock_dir, settings.password_hash_concurrency)
    )


REPLICATE_WEBHOOK_PATH = "/api/v1/webhooks/replicate"
# Replicate's outputs are single images; 4K PNGs run to ~30 MB.
REPLICATE_MAX_OUTPUT_BYTES = 32 * 1024 * 1024


def build_generator(
    settings: Settings,
    *,
    output_fetcher: SafeFetcher | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Generator:
    """The generator the settings choose. `output_fetcher` and `transport` are for tests that
    fake Replicate's file CDN and API at the HTTP boundary."""
    if settings.GENERATOR == "local":
        return LocalGenerator(max_pixels=settings.MAX_IMAGE_PIXELS)
    if settings.REPLICATE_API_TOKEN is None:
        raise ValueError("GENERATOR=replicate needs REPLICATE_API_TOKEN")
    webhook_url = replicate_webhook_url(settings)
    config = ReplicateConfig(
        api_token=settings.REPLICATE_API_TOKEN.get_secret_value(),
        model=settings.REPLICATE_MODEL,
        base_url=settings.REPLICATE_BASE_URL,
        image_size=settings.REPLICATE_IMAGE_SIZE,
        webhook_url=webhook_url,
        poll_initial_s=settings.REPLICATE_POLL_INTERVAL_S,
        # With webhooks polling is only the safety net for a lost delivery.
        poll_max_s=30.0 if webhook_url else 10.0,
        max_output_bytes=REPLICATE_MAX_OUTPUT_BYTES,
        max_pixels=settings.MAX_IMAGE_PIXELS,
    )
    fetcher = output_fetcher or SafeFetcher(
        allowed_hosts=OUTPUT_HOSTS, max_bytes=REPLICATE_MAX_OUTPUT_BYTES, timeout=60
    )
    return ReplicateGenerator(config, fetcher=fetcher, transport=transport)


def replicate_webhook_url(settings: Settings) -> str | None:
    """Our webhook route when Replicate can reach it (REPLICATE_WEBHOOKS=auto: a public
    PUBLIC_BASE_URL), else None and the worker polls."""
    mode = settings.REPLICATE_WEBHOOKS
    base = settings.public_base_url
    if mode == "off" or (mode == "auto" and not is_public_url(base)):
        return None
    return base + REPLICATE_WEBHOOK_PATH


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


def build_database(settings: Settings) -> Database:
    pool = PoolSettings(
        size=settings.DATABASE_POOL_SIZE,
        max_overflow=settings.DATABASE_MAX_OVERFLOW,
        pre_ping_idle_s=settings.DATABASE_PRE_PING_IDLE_S,
        driver_size=settings.DATABASE_STATUS_POOL_SIZE,
    )
    return Database.from_url(settings.DATABASE_URL, pool=pool)


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


def build_storage(settings: Settings) -> Storage:
    if settings.STORAGE_BACKEND == "s3":
        if not (settings.AWS_ACCESS_KEY_ID and settings.AWS_SECRET_ACCESS_KEY):
            raise ValueError("STORAGE_BACKEND=s3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        # Imported only for S3: boto3 costs ~30 MB per process (README, "Memory per process").
        from app.integrations.storage.s3 import S3Storage

        return S3Storage(
            bucket=settings.BUCKET_NAME,
            region=settings.AWS_REGION,
            access_key_id=settings.AWS_ACCESS_KEY_ID,
            secret_access_key=settings.AWS_SECRET_ACCESS_KEY.get_secret_value(),
            endpoint_url=settings.S3_ENDPOINT_URL,
            public_endpoint_url=settings.S3_PUBLIC_ENDPOINT_URL,
            cdn_domain=settings.CDN_DOMAIN,
            url_expiry_s=settings.SIGNED_URL_EXPIRE_S,
        )
    # Its own key, derived from SECRET_KEY: a leaked media URL signs nothing else.
    signing_key = hmac.new(
        settings.SECRET_KEY.get_secret_value().encode(), b"local-media", hashlib.sha256
    ).digest()
    return LocalStorage(
        settings.MEDIA_DIR,
        settings.public_base_url,
        signing_key,
        url_expiry_s=settings.SIGNED_URL_EXPIRE_S,
    )


def build_payment_provider(settings: Settings) -> PaymentProvider | None:
    if settings.payments_backend == "local":
        return LocalCheckout(
            settings.public_base_url,
            _webhook_secrets(settings)[0],
            settings.CREDIT_PRICE_MINOR,
            settings.PAYMENT_CURRENCY,
        )
    if settings.payments_backend != "dodo" or settings.DODO_PAYMENTS_API_KEY is None:
        return None
    # Imported only with Dodo: the SDK (and its pydantic models) cost every other process.
    from app.integrations.payments.dodo import DodoPayments

    return DodoPayments(
        api_key=settings.DODO_PAYMENTS_API_KEY.get_secret_value(),
        mode=settings.DODO_PAYMENTS_MODE,
        base_url=settings.DODO_PAYMENTS_BASE_URL,
        max_retries=settings.DODO_PAYMENTS_MAX_RETRIES,
    )


def _webhook_secrets(settings: Settings) -> list[str]:
    if settings.webhook_secrets:
        return settings.webhook_secrets
    if settings.payments_backend == "local":
        return [local_webhook_secret(settings.SECRET_KEY.get_secret_value())]
    return []


def build_webhook_verifier(settings: Settings) -> WebhookVerifier | None:
    secrets = _webhook_secrets(settings)
    return WebhookVerifier(secrets) if secrets else None


def build_picture_fetcher(settings: Settings | None) -> SafeFetcher:
    max_bytes = settings.max_image_bytes if settings else 10 * 1024 * 1024
    return SafeFetcher(allowed_hosts=GOOGLE_PICTURE_HOSTS, max_bytes=max_bytes, timeout=10)


def build_image_policy(settings: Settings) -> ImagePolicy:
    return ImagePolicy(
        max_bytes=settings.max_image_bytes,
        max_pixels=settings.MAX_IMAGE_PIXELS,
        allowed_types=settings.allowed_image_types,
    )
