"""Settings read once from the environment (and an optional `.env`).

Environment names stay flat (SPEC §9): operators of the seed service keep their `.env` files.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from limits import parse as parse_limit
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.sites import is_loopback, site_of

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = PROJECT_ROOT / "var"

# Placeholders that ship in sample.env and as defaults; production refuses them.
DEFAULT_SECRET_KEY = "dev-secret-key-change-me-0123456789abcdef"
DEFAULT_REFRESH_SECRET_KEY = "dev-refresh-secret-key-change-me-0123456789"
DEFAULT_ADMIN_PASSWORD = "admin"
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    # --- process ---
    ENV: Literal["dev", "prod"] = "dev"
    HOST: str = "127.0.0.1"
    PORT: int = 8000
    PUBLIC_BASE_URL: str | None = None
    LOG_LEVEL: str = "INFO"
    # Unset: one JSON object per line in production, readable text in development.
    LOG_FORMAT: Literal["json", "text"] | None = None
    # Unset: on in development, off in production (the schema maps every route for a caller).
    DOCS_ENABLED: bool = True
    # The try-on playground at GET / and the local mailbox at GET /dev/mail (development
    # pages: the mailbox shows everyone's codes). Unset: on in development, off in production,
    # which refuses it switched on.
    PLAYGROUND_ENABLED: bool = True
    LOGFIRE_TOKEN: SecretStr | None = None
    # API processes `python run.py` starts (uvicorn's variable name). More than one needs the
    # shared parts: Redis jobs and Redis rate limits (production refuses otherwise).
    WEB_CONCURRENCY: int = Field(default=1, ge=1, le=64)
    # GET /metrics in Prometheus format, for a scraper holding METRICS_TOKEN as a bearer token.
    METRICS_ENABLED: bool = False
    METRICS_TOKEN: SecretStr | None = None

    # --- database ---
    DATABASE_URL: str = f"sqlite:///{VAR_DIR / 'hairtryon.db'}"
    # PostgreSQL connections kept open per process (requests hold one only for their
    # statements), and how many more a burst may open and close again (0: bursts queue for a
    # pooled connection instead of paying a connection handshake each).
    DATABASE_POOL_SIZE: int = Field(default=15, ge=1, le=200)
    DATABASE_MAX_OVERFLOW: int = Field(default=0, ge=0, le=200)
    # A pooled connection idle this long is pinged before use (a dropped one is replaced);
    # busier ones are used without the extra round trip.
    DATABASE_PRE_PING_IDLE_S: float = Field(default=30.0, ge=0)
    # PostgreSQL connections of the status poll's own asyncpg pool, on top of the pool above,
    # opened on demand (a job worker, which never polls, opens none) and closed once idle for
    # DATABASE_PRE_PING_IDLE_S; 0 runs the poll on the pool above instead.
    DATABASE_STATUS_POOL_SIZE: int = Field(default=5, ge=0, le=200)

    # --- tokens ---
    SECRET_KEY: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    REFRESH_SECRET_KEY: SecretStr = SecretStr(DEFAULT_REFRESH_SECRET_KEY)
    ALGORITHM: Literal["HS256", "HS384", "HS512"] = "HS256"
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=10, ge=1)
    REFRESH_TOKEN_EXPIRE_MINUTES: int = Field(default=10080, ge=5)
    REFRESH_REUSE_GRACE_S: int = Field(default=10, ge=0, le=300)
    # Password hashes (argon2id, ~20 ms of one core each) running at once on this machine, across
    # every process that shares PASSWORD_HASH_LOCK_DIR. Unset: half the CPU cores, at least 1
    # (1 on a 2-core box: logins queue, and the other core keeps serving every event loop).
    PASSWORD_HASH_CONCURRENCY: int | None = Field(default=None, ge=1, le=256)
    # Where the hashing slots' lock files live; every process of one machine must agree.
    # Unset: `hairtryon-password-slots` in the system temporary directory.
    PASSWORD_HASH_LOCK_DIR: Path | None = None

    # --- accounts ---
    REQUIRE_LOGIN_CODE: bool = False
    FREE_USER_CREDITS: int = Field(default=3, ge=0)
    # Domain attribute of the auth cookies; unset = host-only cookies (the safe default).
    COOKIE_DOMAIN: str | None = None

    # --- Google sign-in (on when both client settings are set) ---
    GOOGLE_CLIENT_ID: str | None = None
    GOOGLE_CLIENT_SECRET: SecretStr | None = None
    # Our callback as registered with Google. Default: {PUBLIC_BASE_URL}/api/v1/auth/google/callback
    REDIRECT_URL: str | None = None
    OIDC_METADATA_URL: str = "https://accounts.google.com/.well-known/openid-configuration"

    # --- email ---
    EMAIL_BACKEND: Literal["local", "brevo"] = "local"
    BREVO_API_KEY: SecretStr | None = None
    BREVO_BASE_URL: str = "https://api.brevo.com"
    MAIL_FROM: str = "no-reply@hairtryon.local"
    MAIL_FROM_NAME: str = "HairTryOn"
    MAIL_DIR: Path = VAR_DIR / "mail"

    # --- web app ---
    FRONTEND_URL: str = "http://localhost:5173"

    # --- storage ---
    STORAGE_BACKEND: Literal["local", "s3"] = "local"
    # Local storage: files under this folder, served by the app through signed, expiring URLs.
    MEDIA_DIR: Path = VAR_DIR / "media"
    AWS_ACCESS_KEY_ID: str | None = None
    AWS_SECRET_ACCESS_KEY: SecretStr | None = None
    AWS_REGION: str = "ap-south-1"
    BUCKET_NAME: str = "hairtry"
    # An S3-compatible endpoint (MinIO, SeaweedFS, R2...); unset = AWS.
    S3_ENDPOINT_URL: str | None = None
    # The endpoint browsers and the image model reach, when it differs from S3_ENDPOINT_URL.
    S3_PUBLIC_ENDPOINT_URL: str | None = None
    # Serve objects as https://{CDN_DOMAIN}/{key} instead of presigned URLs.
    CDN_DOMAIN: str | None = None
    UPLOADS_FOLDER: str = "uploads/"
    GENERATED_IMAGES_FOLDER: str = "generated/"
    PROFILE_PICS_FOLDER: str = "profilepic/"
    MAX_IMAGE_SIZE_MB: int = Field(default=10, ge=1, le=50)
    # Comma-separated; only JPEG, PNG and WebP are ever accepted.
    ALLOWED_IMAGE_TYPES: str = "image/jpeg,image/png,image/webp"
    MAX_IMAGE_PIXELS: int = Field(default=40_000_000, ge=1_000_000, le=89_478_485)
    # Lifetime of the signed URLs handed to clients.
    SIGNED_URL_EXPIRE_S: int = Field(default=3600, ge=60, le=604_800)
    # Delete uploads older than this many days that nothing uses (the periodic purge, or
    # `make purge-uploads` at once); unset = keep.
    UPLOAD_RETENTION_DAYS: int | None = Field(default=None, ge=1)
    # Seconds between passes of the periodic purge (UPLOAD_RETENTION_DAYS and every person's
    # own retention window), one process of the deployment at a time; 0 turns it off.
    RETENTION_PURGE_INTERVAL_S: float = Field(default=3600.0, ge=0, le=7 * 86_400)

    # Request bodies outside the multipart uploads (which have MAX_IMAGE_SIZE_MB): JSON and
    # forms, and the payment provider's webhooks. Larger bodies are refused with 413 unread.
    MAX_JSON_BODY_BYTES: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    MAX_WEBHOOK_BODY_BYTES: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    # --- rate limits ---
    RATE_LIMIT_ENABLED: bool = True
    # Empty = in-process memory (one process only); redis://host:6379/0 shares limits.
    RATE_LIMIT_STORAGE_URL: str | None = None
    # Every /api/v1 call without a budget of its own, per user (signed in) or client IP.
    RATE_LIMIT_DEFAULT: str = "60/minute"
    # Brute-force budget: wrong passwords, codes and tokens per client IP and per account;
    # also each inbox's signup, login-code and reset mail.
    RATE_LIMIT_AUTH: str = "10/minute"
    # Every password check, signup and code or link redemption per client IP, right or wrong.
    RATE_LIMIT_AUTH_ATTEMPTS: str = "60/minute"
    # verify-code-token, check-email-status, verify-reset-token per client IP.
    RATE_LIMIT_AUTH_CHECKS: str = "120/minute"
    # request-signup-token and forgot-password per client IP.
    RATE_LIMIT_AUTH_RESEND: str = "30/minute"
    # GET /image/status/{id} per user (the web app polls every 3 s per job, in every tab).
    RATE_LIMIT_STATUS: str = "300/minute"
    RATE_LIMIT_GENERATION: str = "5/minute"
    # GET /user/export per user, on top of the default budget: each one reads every object
    # the person has from storage.
    RATE_LIMIT_EXPORT: str = "10/hour"
    # Proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDRs).
    TRUSTED_PROXIES: str = ""

    # --- generation ---
    # local: the embedded preview generator; replicate: real try-ons on Replicate.
    GENERATOR: Literal["local", "replicate"] = "local"
    REPLICATE_API_TOKEN: SecretStr | None = None
    REPLICATE_MODEL: str = "bytedance/seedream-4"
    # The API host root, without /v1 (tests point it at a fake).
    REPLICATE_BASE_URL: str = "https://api.replicate.com"
    REPLICATE_IMAGE_SIZE: Literal["1K", "2K", "4K"] = "2K"
    # auto: Replicate posts the result to our signed webhook when PUBLIC_BASE_URL is public,
    # else we poll; on/off force it (on: e.g. a tunnel with a private-looking name).
    REPLICATE_WEBHOOKS: Literal["auto", "on", "off"] = "auto"
    # First wait between status polls; it grows 1.5x per poll up to 10 s (30 s with webhooks).
    REPLICATE_POLL_INTERVAL_S: float = Field(default=1.0, gt=0, le=60)
    # A job not finished by then is failed and refunded by the sweeper.
    GENERATION_TIMEOUT_S: int = Field(default=300, ge=10, le=3600)
    # The photo checks before charging (SPEC §4a, 422 before any debit): no face, several
    # faces, face too small, too dark, too blurry. false: every photo is accepted as it is.
    FACE_CHECK: bool = True
    # FACE_TOO_SMALL under this share of the photo's shorter side (the face box's width).
    PHOTO_MIN_FACE_SHARE: float = Field(default=0.10, ge=0, le=1)
    # PHOTO_TOO_DARK under this mean luminance (0-255) of the whole photo.
    PHOTO_MIN_BRIGHTNESS: float = Field(default=30.0, ge=0, le=255)
    # PHOTO_TOO_BLURRY under this variance of the Laplacian of the face (resized to 64x64 px).
    PHOTO_MIN_SHARPNESS: float = Field(default=50.0, ge=0)
    # Empty: jobs run inside the API process. redis://...: a Redis queue and `make worker`.
    JOB_BROKER_URL: str | None = None
    # A worker holds a running job this long between heartbeats; past it, the job is resumed.
    JOB_LEASE_S: int = Field(default=60, ge=1, le=3600)
    # How often overdue jobs are failed and refunded, and abandoned ones resumed (one process
    # of the deployment sweeps at a time).
    SWEEP_INTERVAL_S: float = Field(default=10.0, gt=0, le=600)
    # Deliveries a job may take; one more and it fails (GENERATION_FAILED), is refunded and
    # dead-lettered: a job that kills its worker every time cannot circulate forever (JOB-07).
    JOB_MAX_ATTEMPTS: int = Field(default=3, ge=1, le=20)
    # Redis mode: a message a silent (dead) worker holds this long goes to another worker.
    # Running jobs are kept alive by a heartbeat, so this bounds crash recovery, not job length.
    JOB_REDELIVER_AFTER_S: float = Field(default=60.0, gt=0, le=3600)
    # On SIGTERM/SIGINT a worker (and the API's embedded jobs) waits this long for running
    # jobs, then stops; what did not finish is delivered again.
    JOB_STOP_GRACE_S: float = Field(default=10.0, ge=0, le=600)
    # Test-only fault injection, refused with ENV=prod: "point[@image_id]=action,..." with
    # actions kill (SIGKILL this process), db_error (raise a database error) or
    # delay:<seconds>. Points: before_generate, heartbeat, after_generate (app/core/faults.py).
    JOB_FAULTS: str | None = None
    # Test-only switch for RELIABILITY CR-06: debit credits by read-modify-write (a race).
    CREDITS_UNSAFE_READ_MODIFY_WRITE: bool = False

    # --- payments ---
    # dodo: Dodo Payments; local: a test checkout page on this server that "pays" and posts a
    # signed webhook; off: no payments (503). Unset: Dodo when DODO_PAYMENTS_API_KEY is set,
    # else the local checkout in development (so `make run` can buy) and off in production.
    PAYMENTS_BACKEND: Literal["dodo", "local", "off"] | None = None
    DODO_PAYMENTS_API_KEY: SecretStr | None = None
    DODO_PAYMENTS_MODE: Literal["test_mode", "live_mode"] = "test_mode"
    # The one product priced per credit; quantity = credits.
    DODO_PAYMENTS_PRODUCT_ID: str | None = None
    # whsec_... ; during a rotation give the old and the new, comma-separated.
    DODO_PAYMENTS_WEBHOOK_SECRET: SecretStr | None = None
    # Override the API host (tests, proxies); when set, DODO_PAYMENTS_MODE is not used.
    DODO_PAYMENTS_BASE_URL: str | None = None
    # The SDK's own retries of failed calls (0 in tests, so failures show at once).
    DODO_PAYMENTS_MAX_RETRIES: int = Field(default=2, ge=0, le=5)
    # The local test checkout's price per credit (minor units) and currency, and the list
    # price a transaction shows until its payment says what was paid. Never gates credits:
    # a succeeded payment for our product grants what was bought, whatever tax, discount or
    # currency Dodo charged (the real price lives in Dodo's dashboard).
    CREDIT_PRICE_MINOR: int = Field(default=100, ge=1)
    PAYMENT_CURRENCY: str = Field(default="INR", min_length=3, max_length=3)
    # Where the provider sends the buyer back (the web app's return page reads payment_id and
    # status from the query). Default: {FRONTEND_URL}/payment
    PAYMENT_RETURN_URL: str | None = None
    # How often open transactions (older than a minute) are reconciled with the provider by
    # one process of the deployment; 0 turns the periodic reconciler off.
    PAYMENTS_RECONCILE_INTERVAL_S: float = Field(default=300.0, ge=0, le=86_400)
    # Open transactions still unpaid after this many hours become `expired` (no credit change;
    # a success that comes in later still grants).
    PAYMENTS_ABANDON_AFTER_H: float = Field(default=48.0, gt=0, le=24 * 365)

    # --- admin ---
    ADMIN_USERNAME: str = "admin"
    ADMIN_PASSWORD: SecretStr = SecretStr(DEFAULT_ADMIN_PASSWORD)
    # An admin sign-in lasts this long from the login, however active the admin is.
    ADMIN_SESSION_MINUTES: int = Field(default=30, ge=1, le=24 * 60)
    # /admin/login attempts per client IP, and wrong passwords per username.
    ADMIN_LOGIN_RATE_LIMIT: str = "5/minute"

    @field_validator(
        "PUBLIC_BASE_URL",
        "COOKIE_DOMAIN",
        "BREVO_API_KEY",
        "GOOGLE_CLIENT_ID",
        "GOOGLE_CLIENT_SECRET",
        "REDIRECT_URL",
        "RATE_LIMIT_STORAGE_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "S3_ENDPOINT_URL",
        "S3_PUBLIC_ENDPOINT_URL",
        "CDN_DOMAIN",
        "UPLOAD_RETENTION_DAYS",
        "JOB_BROKER_URL",
        "JOB_FAULTS",
        "PAYMENTS_BACKEND",
        "DODO_PAYMENTS_API_KEY",
        "DODO_PAYMENTS_PRODUCT_ID",
        "DODO_PAYMENTS_WEBHOOK_SECRET",
        "DODO_PAYMENTS_BASE_URL",
        "PAYMENT_RETURN_URL",
        "LOGFIRE_TOKEN",
        "METRICS_TOKEN",
        "LOG_FORMAT",
        "REPLICATE_API_TOKEN",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # sample.env and compose pass unset values as empty strings.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("ADMIN_LOGIN_RATE_LIMIT")
    @classmethod
    def _rate_limit_syntax(cls, value: str) -> str:
        # Refused at start rather than as a 500 at the first admin login.
        parse_limit(value)
        return value

    @property
    def is_production(self) -> bool:
        return self.ENV == "prod"

    @property
    def password_hash_concurrency(self) -> int:
        """PASSWORD_HASH_CONCURRENCY, or half the cores this process may run on (at least 1)."""
        if self.PASSWORD_HASH_CONCURRENCY is not None:
            return self.PASSWORD_HASH_CONCURRENCY
        return max(1, len(os.sched_getaffinity(0)) // 2)

    @property
    def password_hash_lock_dir(self) -> Path:
        if self.PASSWORD_HASH_LOCK_DIR is not None:
            return self.PASSWORD_HASH_LOCK_DIR
        return Path(tempfile.gettempdir()) / "hairtryon-password-slots"

    @property
    def json_logs(self) -> bool:
        return self.LOG_FORMAT == "json" if self.LOG_FORMAT else self.is_production

    @property
    def public_base_url(self) -> str:
        """Where browsers and clients reach the API: every link, file URL and cookie uses it.

        Unset (development), it is on the host name the web app itself is served from when
        that is a loopback name, else `localhost`: the web app on http://localhost:5173 calls
        http://localhost:8000, and a link on 127.0.0.1 would set its cookies on another host
        than the one the web app sends them to."""
        if self.PUBLIC_BASE_URL:
            return self.PUBLIC_BASE_URL.rstrip("/")
        host = self.HOST
        if host in {"0.0.0.0", "::", ""} or is_loopback(host):
            frontend_host = urlsplit(self.frontend_origin).hostname or ""
            host = frontend_host if _reachable_loopback(frontend_host) else "localhost"
        return f"http://{host}:{self.PORT}"

    @property
    def frontend_origin(self) -> str:
        return self.FRONTEND_URL.rstrip("/")

    @property
    def allowed_image_types(self) -> tuple[str, ...]:
        return tuple(t.strip().lower() for t in self.ALLOWED_IMAGE_TYPES.split(",") if t.strip())

    @property
    def max_image_bytes(self) -> int:
        return self.MAX_IMAGE_SIZE_MB * 1024 * 1024

    @field_validator("ALLOWED_IMAGE_TYPES")
    @classmethod
    def _only_raster_types(cls, value: str) -> str:
        known = {"image/jpeg", "image/png", "image/webp"}
        types = {t.strip().lower() for t in value.split(",") if t.strip()}
        if not types or not types <= known:
            raise ValueError(f"ALLOWED_IMAGE_TYPES must be a non-empty subset of {sorted(known)}")
        return value

    @property
    def payments_backend(self) -> str | None:
        """ "dodo", "local" or None (payments off)."""
        if self.PAYMENTS_BACKEND == "off":
            return None
        if self.PAYMENTS_BACKEND is not None:
            return self.PAYMENTS_BACKEND
        if self.DODO_PAYMENTS_API_KEY:
            return "dodo"
        # A newcomer on `make run` can try buying; production never falls back to free credits.
        return None if self.is_production else "local"

    @property
    def payment_return_url(self) -> str:
        return self.PAYMENT_RETURN_URL or f"{self.frontend_origin}/payment"

    @property
    def webhook_secrets(self) -> list[str]:
        if self.DODO_PAYMENTS_WEBHOOK_SECRET is None:
            return []
        raw = self.DODO_PAYMENTS_WEBHOOK_SECRET.get_secret_value()
        return [secret.strip() for secret in raw.split(",") if secret.strip()]

    @property
    def google_redirect_url(self) -> str:
        return self.REDIRECT_URL or f"{self.public_base_url}/api/v1/auth/google/callback"

    @property
    def job_queue_lease_s(self) -> float:
        """How long a queued job message is given to be taken before the sweeper queues
        another: a lease, or the broker's redelivery window if longer (a dead worker's message
        comes back by itself within it)."""
        return max(float(self.JOB_LEASE_S), self.JOB_REDELIVER_AFTER_S)

    @model_validator(mode="after")
    def _dev_pages_off_in_production_unless_asked(self) -> Settings:
        # Runs before the refusals below (pydantic runs after-validators in order).
        if self.is_production and "DOCS_ENABLED" not in self.model_fields_set:
            self.DOCS_ENABLED = False
        if self.is_production and "PLAYGROUND_ENABLED" not in self.model_fields_set:
            self.PLAYGROUND_ENABLED = False
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production_config(self) -> Settings:
        if not self.is_production:
            return self
        problems = production_problems(self)
        if problems:
            raise ValueError("refusing to start with ENV=prod: " + "; ".join(problems))
        return self


def production_problems(settings: Settings) -> list[str]:
    """Every setting that is unsafe in production, each named, so one run shows them all."""
    return (
        _secret_problems(settings)
        + _public_url_problems(settings)
        + _integration_problems(settings)
        + _embedded_part_problems(settings)
        + _deployment_problems(settings)
    )


def _reachable_loopback(host: str) -> bool:
    # IPv6 loopback is left out: the server listens on IPv4 by default.
    return host == "localhost" or (is_loopback(host) and ":" not in host)


def _public_url_problems(settings: Settings) -> list[str]:
    """PUBLIC_BASE_URL is what every link and cookie is built on; production cannot guess it,
    and its cookies only reach the web app when both are on one site (browsers block or
    partition cookies of another site, so an emailed link would sign nobody in)."""
    if not settings.PUBLIC_BASE_URL:
        return ["PUBLIC_BASE_URL is required in production (the URL browsers reach the API on)"]
    api = urlsplit(settings.PUBLIC_BASE_URL)
    frontend = urlsplit(settings.frontend_origin)
    if api.scheme not in {"http", "https"} or not api.hostname:
        return ["PUBLIC_BASE_URL must be an absolute http(s) URL"]
    problems: list[str] = []
    if frontend.scheme == "https" and api.scheme != "https":
        problems.append("PUBLIC_BASE_URL must be https when FRONTEND_URL is")
    if frontend.hostname and site_of(api.hostname) != site_of(frontend.hostname):
        problems.append(
            f"PUBLIC_BASE_URL ({api.hostname}) is not on FRONTEND_URL's site "
            f"({site_of(frontend.hostname)}): browsers would not send the session cookies"
        )
    domain = (settings.COOKIE_DOMAIN or "").lstrip(".").lower()
    if domain and not (api.hostname == domain or api.hostname.endswith("." + domain)):
        problems.append(f"COOKIE_DOMAIN ({domain}) does not cover PUBLIC_BASE_URL's host")
    return problems


def _secret_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    secrets = {
        "SECRET_KEY": (settings.SECRET_KEY, DEFAULT_SECRET_KEY),
        "REFRESH_SECRET_KEY": (settings.REFRESH_SECRET_KEY, DEFAULT_REFRESH_SECRET_KEY),
    }
    for name, (value, default) in secrets.items():
        raw = value.get_secret_value()
        if raw == default:
            problems.append(f"{name} is the development default")
        elif len(raw) < MIN_SECRET_LENGTH:
            problems.append(f"{name} is shorter than {MIN_SECRET_LENGTH} characters")
    if settings.SECRET_KEY.get_secret_value() == settings.REFRESH_SECRET_KEY.get_secret_value():
        problems.append("SECRET_KEY and REFRESH_SECRET_KEY must differ")
    if settings.ADMIN_PASSWORD.get_secret_value() == DEFAULT_ADMIN_PASSWORD:
        problems.append("ADMIN_PASSWORD is the default")
    elif len(settings.ADMIN_PASSWORD.get_secret_value()) < 12:
        problems.append("ADMIN_PASSWORD is shorter than 12 characters")
    return problems


def _integration_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.EMAIL_BACKEND == "brevo" and settings.BREVO_API_KEY is None:
        problems.append("BREVO_API_KEY is required with EMAIL_BACKEND=brevo")
    if settings.payments_backend == "dodo" and not settings.webhook_secrets:
        problems.append("DODO_PAYMENTS_WEBHOOK_SECRET is required when payments are on")
    if settings.PAYMENTS_BACKEND == "local":
        problems.append("PAYMENTS_BACKEND=local is a test checkout that grants free credits")
    if settings.GENERATOR == "replicate" and settings.REPLICATE_API_TOKEN is None:
        problems.append("REPLICATE_API_TOKEN is required with GENERATOR=replicate")
    if settings.STORAGE_BACKEND == "s3" and not (
        settings.AWS_ACCESS_KEY_ID and settings.AWS_SECRET_ACCESS_KEY
    ):
        problems.append("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required for S3")
    return problems


def _embedded_part_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.DATABASE_URL.startswith("sqlite"):
        problems.append("DATABASE_URL points at SQLite, which cannot serve several processes")
    if settings.FRONTEND_URL.strip() in {"", "*"}:
        problems.append("FRONTEND_URL must be the web app's origin, not a wildcard")
    if settings.CREDITS_UNSAFE_READ_MODIFY_WRITE:
        problems.append("CREDITS_UNSAFE_READ_MODIFY_WRITE is a test-only switch")
    if settings.JOB_FAULTS:
        problems.append("JOB_FAULTS is a test-only switch")
    if settings.RETENTION_PURGE_INTERVAL_S == 0:
        # Nothing else applies people's own windows (PUT /user/privacy promises it).
        problems.append(
            "RETENTION_PURGE_INTERVAL_S=0 turns off the purge: people's retention windows "
            "would never be applied"
        )
    if settings.PLAYGROUND_ENABLED:
        problems.append(
            "PLAYGROUND_ENABLED=true serves the development playground and /dev/mail (everyone's"
            " codes)"
        )
    if settings.RATE_LIMIT_ENABLED and not settings.RATE_LIMIT_STORAGE_URL:
        problems.append(
            "RATE_LIMIT_STORAGE_URL must point at Redis: in-memory limits do not hold across "
            "processes"
        )
    return problems


# Mail from these never arrives (RFC 2606 / RFC 6761 names and mDNS): users would never
# get their codes, or the provider would refuse the sender.
_NON_ROUTABLE_SUFFIXES = (
    ".example",
    ".invalid",
    ".local",
    ".localhost",
    ".test",
    ".internal",
    ".lan",
    ".home.arpa",
    ".localdomain",
)
_NON_ROUTABLE_DOMAINS = ("example.com", "example.net", "example.org", "localhost")


def is_non_routable_domain(domain: str) -> bool:
    domain = domain.strip().rstrip(".").lower()
    if not domain or "." not in domain:
        return True
    for name in _NON_ROUTABLE_DOMAINS:
        if domain == name or domain.endswith("." + name):
            return True
    return domain.endswith(_NON_ROUTABLE_SUFFIXES) or domain.replace(".", "").isdigit()


def _deployment_problems(settings: Settings) -> list[str]:
    """Settings that work on a laptop and fail real users or several processes."""
    return _process_problems(settings) + _https_url_problems(settings) + _mail_problems(settings)


def _process_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.WEB_CONCURRENCY > 1 and not settings.JOB_BROKER_URL:
        problems.append(
            f"JOB_BROKER_URL must point at Redis with WEB_CONCURRENCY={settings.WEB_CONCURRENCY}:"
            " in-process jobs belong to one process"
        )
    if not settings.RATE_LIMIT_ENABLED:
        problems.append("RATE_LIMIT_ENABLED=false leaves sign-in and generation unthrottled")
    if settings.METRICS_ENABLED and (
        settings.METRICS_TOKEN is None
        or len(settings.METRICS_TOKEN.get_secret_value()) < MIN_SECRET_LENGTH
    ):
        problems.append(
            f"METRICS_TOKEN of at least {MIN_SECRET_LENGTH} characters is required with"
            " METRICS_ENABLED=true"
        )
    return problems


def _https_url_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    frontend = settings.FRONTEND_URL.strip()
    if frontend in {"", "*"}:
        pass  # named by _embedded_part_problems
    elif "*" in frontend:
        # Credentials are always allowed (cookies): a wildcard origin would hand them out.
        problems.append("FRONTEND_URL must not be a wildcard: CORS allows credentials")
    elif not frontend.startswith("https://"):
        problems.append("FRONTEND_URL must be an https:// origin")
    # PUBLIC_BASE_URL itself (required, on FRONTEND_URL's site): _public_url_problems.
    if settings.PUBLIC_BASE_URL and not settings.PUBLIC_BASE_URL.strip().startswith("https://"):
        problems.append("PUBLIC_BASE_URL must be https in production")
    for name in ("REDIRECT_URL", "PAYMENT_RETURN_URL"):
        value = getattr(settings, name)
        if value is not None and not value.strip().startswith("https://"):
            problems.append(f"{name} must be an https:// URL")
    return problems


def _mail_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.EMAIL_BACKEND == "local":
        problems.append(
            "EMAIL_BACKEND=local writes mail to files: verification and login codes would never"
            " reach users (use EMAIL_BACKEND=brevo)"
        )
    _, at, domain = settings.MAIL_FROM.rpartition("@")
    if not at or is_non_routable_domain(domain):
        problems.append(
            f"MAIL_FROM's domain {domain!r} is not routable: mail from it is refused or never"
            " delivered"
        )
    return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()
