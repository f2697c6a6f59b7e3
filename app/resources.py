"""What the process builds once at start-up and shares: the database and the adapters (built
by the composition root, app/wiring.py), and the background loops they run."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.auth.codes import CodeHasher
from app.auth.google import GoogleOAuth
from app.auth.passwords import PasswordHasher
from app.auth.tokens import TokenService
from app.core.config import Settings
from app.core.db import Database
from app.core.rate_limit import IpNetwork, RateLimiter
from app.files.intake import ImagePolicy
from app.integrations.email import BrevoSender, EmailSender, EmailTemplates
from app.integrations.fetcher import SafeFetcher
from app.integrations.generator import Generator
from app.integrations.payments.dodo import DodoPayments
from app.integrations.payments.port import PaymentProvider
from app.integrations.payments.webhooks import WebhookVerifier
from app.integrations.storage import Storage
from app.integrations.storage.s3 import S3Storage
from app.jobs.port import JobQueue
from app.payments.pricing import ProductPrices
from app.photos.meter import PhotoMeter

if TYPE_CHECKING:
    from app.generation.status import StatusReader
    from app.payments.reconcile import PaymentReconciler
    from app.privacy.purge import RetentionPurger


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
    picture_fetcher: SafeFetcher
    # Measures photos for the photo checks, in threads, one upload once at a time.
    photo_meter: PhotoMeter
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
    # Purge files past UPLOAD_RETENTION_DAYS and each person's retention window periodically,
    # in API and worker processes alike (one at a time does a pass); off in transactional
    # tests unless a test turns it on.
    purge_retention: bool = True
    purger: RetentionPurger | None = None
    _purger_task: asyncio.Task[None] | None = None
    trusted_proxies: tuple[IpNetwork, ...] = ()
    google: GoogleOAuth | None = None
    passwords: PasswordHasher = field(default_factory=PasswordHasher)
    email_templates: EmailTemplates = field(default_factory=EmailTemplates)
    _status_reader: StatusReader | None = None

    @classmethod
    def build(cls, settings: Settings, *, database: Database | None = None) -> Resources:
        """Shorthand for `app.wiring.build_resources` (the composition root)."""
        from app.wiring import build_resources

        return build_resources(settings, database=database)

    @property
    def status_reader(self) -> StatusReader:
        """The status poll's reader, built on first use and kept: its statements are built
        once per process, not per poll."""
        if self._status_reader is None:
            from app.generation.status import StatusReader

            self._status_reader = StatusReader(self.database, self.storage)
        return self._status_reader

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
        self._start_retention_purge()
        if not jobs:
            return
        if self.job_queue is None:
            from app.generation.handlers import build_handlers
            from app.jobs.broker import TaskiqJobQueue, build_broker

            self.job_queue = TaskiqJobQueue(
                build_broker(
                    self.settings.JOB_BROKER_URL,
                    redeliver_after_s=self.settings.JOB_REDELIVER_AFTER_S,
                    embedded_stop_grace_s=self.settings.JOB_STOP_GRACE_S,
                ),
                build_handlers(self),
            )
        await self.job_queue.start()
        if self.background_jobs:
            from app.generation.handlers import build_worker
            from app.generation.sweeper import Sweeper
            from app.jobs.broker import TaskiqJobQueue

            sweeper = Sweeper(self.database, build_worker(self), self.job_queue, self.settings)
            # Only an in-process queue lost its messages with the last process; a Redis
            # stream still holds them (and the sweeper queues what lapsed), so N API
            # processes starting do not queue every unfinished job N more times.
            if isinstance(self.job_queue, TaskiqJobQueue) and self.job_queue.runs_in_process:
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

    def _start_retention_purge(self) -> None:
        interval = self.settings.RETENTION_PURGE_INTERVAL_S
        if not (self.purge_retention and interval > 0):
            return
        from app.privacy.purge import RetentionPurger

        self.purger = RetentionPurger.from_settings(self.settings, self.database, self.storage)
        self._purger_task = asyncio.create_task(self.purger.run_forever(), name="retention-purge")

    async def stop_background(self) -> None:
        """Stop the periodic loops `start()` began (the sweeper, the payment reconciler, the
        retention purge)."""
        for task in (self._reconciler_task, self._purger_task, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._reconciler_task = self._purger_task = self._sweeper = None

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
        aclose = getattr(self.generator, "aclose", None)
        if aclose is not None:  # the Replicate adapter holds an HTTP client
            await aclose()
        await self.database.dispose()
