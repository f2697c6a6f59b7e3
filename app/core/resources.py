"""What the process builds once at start-up and shares: the database and the adapters."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from app.auth.codes import CodeHasher
from app.auth.google import GoogleOAuth
from app.auth.google_pictures import GOOGLE_PICTURE_HOSTS
from app.auth.passwords import PasswordHasher
from app.auth.tokens import TokenService
from app.core.config import Settings
from app.core.db import Database
from app.core.rate_limit import IpNetwork, RateLimiter, parse_networks
from app.files.intake import ImagePolicy
from app.integrations.email import (
    BrevoSender,
    EmailSender,
    EmailTemplates,
    LocalMailbox,
)
from app.integrations.fetcher import SafeFetcher
from app.integrations.generator import Generator, LocalGenerator
from app.integrations.payments.dodo import DodoPayments
from app.integrations.payments.local import LocalCheckout, local_webhook_secret
from app.integrations.payments.port import PaymentProvider
from app.integrations.payments.webhooks import WebhookVerifier
from app.integrations.storage import Storage
from app.integrations.storage.local import LocalStorage
from app.integrations.storage.s3 import S3Storage
from app.jobs.port import JobQueue
from app.payments.pricing import ProductPrices

if TYPE_CHECKING:
    from app.payments.reconcile import PaymentReconciler


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


def build_storage(settings: Settings) -> Storage:
    if settings.STORAGE_BACKEND == "s3":
        if not (settings.AWS_ACCESS_KEY_ID and settings.AWS_SECRET_ACCESS_KEY):
            raise ValueError("STORAGE_BACKEND=s3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
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


@dataclass(slots=True)
class Resources:
    settings: Settings
    database: Database
    email_sender: EmailSender
    tokens: TokenService
    codes: CodeHasher
    limiter: RateLimiter
    storage: Storage
    image_policy: ImagePolicy
    generator: Generator
    picture_fetcher: SafeFetcher = field(default_factory=lambda: build_picture_fetcher(None))
    payments: PaymentProvider | None = None
    webhook_verifier: WebhookVerifier | None = None
    # The product's price, cached for the process (GET /payments/pricing).
    prices: ProductPrices = field(default_factory=ProductPrices)
    job_queue: JobQueue | None = None
    # Resume unfinished jobs at start and sweep overdue ones (off in transactional tests).
    background_jobs: bool = True
    _sweeper: asyncio.Task[None] | None = None
    # Reconcile open payments periodically, in API and worker processes alike (one at a
    # time does a pass); off in transactional tests unless a test turns it on.
    reconcile_payments: bool = True
    reconciler: PaymentReconciler | None = None
    _reconciler_task: asyncio.Task[None] | None = None
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
            storage=build_storage(settings),
            image_policy=build_image_policy(settings),
            generator=LocalGenerator(max_pixels=settings.MAX_IMAGE_PIXELS),
            picture_fetcher=build_picture_fetcher(settings),
            payments=build_payment_provider(settings),
            webhook_verifier=build_webhook_verifier(settings),
        )

    @property
    def queue(self) -> JobQueue:
        if self.job_queue is None:
            raise RuntimeError("the job queue is built by Resources.start()")
        return self.job_queue

    async def start(self, *, jobs: bool = True) -> None:
        """`jobs=False` in a job worker process: it takes jobs from its own broker and
        neither queues nor sweeps."""
        # The dummy hash for unknown emails is built now, not on the first login.
        await self.passwords.warm_up()
        self._start_payment_reconciler()
        if not jobs:
            return
        if self.job_queue is None:
            from app.generation.handlers import build_handlers
            from app.jobs.broker import TaskiqJobQueue, build_broker

            self.job_queue = TaskiqJobQueue(
                build_broker(self.settings.JOB_BROKER_URL), build_handlers(self)
            )
        await self.job_queue.start()
        if self.background_jobs:
            from app.generation.handlers import build_worker
            from app.generation.sweeper import Sweeper

            sweeper = Sweeper(self.database, build_worker(self), self.job_queue, self.settings)
            await sweeper.resume()
            self._sweeper = asyncio.create_task(sweeper.run_forever(), name="sweeper")

    def _start_payment_reconciler(self) -> None:
        interval = self.settings.PAYMENTS_RECONCILE_INTERVAL_S
        if not (self.reconcile_payments and self.payments is not None and interval > 0):
            return
        from app.payments.reconcile import PaymentReconciler

        self.reconciler = PaymentReconciler.from_settings(
            self.settings, self.database, self.payments
        )
        self._reconciler_task = asyncio.create_task(
            self.reconciler.run_forever(), name="payment-reconciler"
        )

    async def stop_background(self) -> None:
        """Stop the periodic loops `start()` began (the sweeper, the payment reconciler)."""
        for task in (self._reconciler_task, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._reconciler_task = self._sweeper = None

    async def close(self) -> None:
        await self.stop_background()
        if self.job_queue is not None:
            await self.job_queue.stop()
        await self.database.background.drain()
        if isinstance(self.email_sender, BrevoSender):
            await self.email_sender.aclose()
        if isinstance(self.storage, S3Storage):
            self.storage.close()
        if isinstance(self.payments, DodoPayments):
            await self.payments.aclose()
        await self.picture_fetcher.aclose()
        await self.database.dispose()
