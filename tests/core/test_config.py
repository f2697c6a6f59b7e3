"""Settings: flat names, URL normalisation, and production refusing unsafe configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.core.config import PROJECT_ROOT, Settings
from app.core.db import normalise_database_url

SAFE_PROD = {
    "ENV": "prod",
    "SECRET_KEY": "s" * 48,
    "REFRESH_SECRET_KEY": "r" * 48,
    "ADMIN_PASSWORD": "a-long-admin-password",
    "DATABASE_URL": "postgresql://app@db:5432/hairtryon",
    "FRONTEND_URL": "https://hairtryon.example",
    "PUBLIC_BASE_URL": "https://api.hairtryon.example",
    "RATE_LIMIT_STORAGE_URL": "redis://127.0.0.1:6379/0",
    "EMAIL_BACKEND": "brevo",
    "BREVO_API_KEY": "xkeysib-test",
    "MAIL_FROM": "no-reply@hairtryon.app",
}


def _settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_development_starts_on_embedded_defaults() -> None:
    settings = _settings()
    assert settings.ENV == "dev"
    assert settings.DATABASE_URL.startswith("sqlite:///")
    # The host the web app (FRONTEND_URL http://localhost:5173) calls, not the bind address.
    assert settings.public_base_url == "http://localhost:8000"


def test_production_accepts_a_safe_configuration() -> None:
    assert _settings(**SAFE_PROD).is_production


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"SECRET_KEY": "dev-secret-key-change-me"}, "SECRET_KEY"),
        ({"REFRESH_SECRET_KEY": "short"}, "REFRESH_SECRET_KEY"),
        ({"ADMIN_PASSWORD": "admin"}, "ADMIN_PASSWORD"),
        ({"DATABASE_URL": "sqlite:///var/x.db"}, "DATABASE_URL"),
        ({"FRONTEND_URL": "*"}, "FRONTEND_URL"),
        ({"REFRESH_SECRET_KEY": "s" * 48}, "must differ"),
        ({"RATE_LIMIT_STORAGE_URL": ""}, "RATE_LIMIT_STORAGE_URL"),
        ({"BREVO_API_KEY": ""}, "BREVO_API_KEY"),
        ({"CREDITS_UNSAFE_READ_MODIFY_WRITE": "true"}, "CREDITS_UNSAFE_READ_MODIFY_WRITE"),
        ({"PAYMENTS_BACKEND": "local"}, "PAYMENTS_BACKEND=local"),
        ({"PLAYGROUND_ENABLED": "true"}, "PLAYGROUND_ENABLED"),
        ({"RETENTION_PURGE_INTERVAL_S": "0"}, "RETENTION_PURGE_INTERVAL_S"),
        ({"DODO_PAYMENTS_API_KEY": "key"}, "DODO_PAYMENTS_WEBHOOK_SECRET"),
        ({"STORAGE_BACKEND": "s3"}, "AWS_ACCESS_KEY_ID"),
        ({"SECRET_KEY": "short-secret"}, "SECRET_KEY is shorter"),
        ({"ADMIN_PASSWORD": "short"}, "ADMIN_PASSWORD is shorter"),
        ({"DATABASE_URL": "sqlite+aiosqlite:///var/x.db"}, "DATABASE_URL"),
        ({"WEB_CONCURRENCY": "2"}, "JOB_BROKER_URL"),
        ({"FRONTEND_URL": "https://*.hairtryon.app"}, "FRONTEND_URL must not be a wildcard"),
        ({"FRONTEND_URL": "http://hairtryon.app"}, "FRONTEND_URL must be an https"),
        ({"PUBLIC_BASE_URL": "http://api.hairtryon.example"}, "PUBLIC_BASE_URL must be https"),
        ({"REDIRECT_URL": "http://api.hairtryon.app/cb"}, "REDIRECT_URL"),
        ({"PAYMENT_RETURN_URL": "http://hairtryon.app/payment"}, "PAYMENT_RETURN_URL"),
        ({"RATE_LIMIT_ENABLED": "false"}, "RATE_LIMIT_ENABLED"),
        ({"EMAIL_BACKEND": "local"}, "EMAIL_BACKEND=local"),
        ({"MAIL_FROM": "no-reply@hairtryon.local"}, "MAIL_FROM"),
        ({"MAIL_FROM": "no-reply@example.com"}, "MAIL_FROM"),
        ({"MAIL_FROM": "no-reply@mail.example.org"}, "MAIL_FROM"),
        ({"MAIL_FROM": "no-reply@localhost"}, "MAIL_FROM"),
        ({"MAIL_FROM": "no-reply@shop.test"}, "MAIL_FROM"),
        ({"MAIL_FROM": "no-reply@shop.invalid"}, "MAIL_FROM"),
        ({"MAIL_FROM": "no-reply@10.0.0.1"}, "MAIL_FROM"),
        ({"MAIL_FROM": "no-reply"}, "MAIL_FROM"),
        ({"METRICS_ENABLED": "true"}, "METRICS_TOKEN"),
        ({"METRICS_ENABLED": "true", "METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
        ({"GENERATOR": "replicate"}, "REPLICATE_API_TOKEN"),
        ({"GENERATOR": "replicate", "REPLICATE_API_TOKEN": "  "}, "REPLICATE_API_TOKEN"),
        ({"PUBLIC_BASE_URL": ""}, "PUBLIC_BASE_URL is required"),
        ({"PUBLIC_BASE_URL": "https://api.other.example"}, "not on FRONTEND_URL's site"),
        ({"COOKIE_DOMAIN": "elsewhere.example"}, "COOKIE_DOMAIN"),
    ],
)
def test_production_refuses_unsafe_setting_and_names_it(
    override: dict[str, str], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        _settings(**{**SAFE_PROD, **override})


def test_production_accepts_replicate_with_its_token() -> None:
    settings = _settings(**SAFE_PROD, GENERATOR="replicate", REPLICATE_API_TOKEN="r8_token")
    assert settings.REPLICATE_MODEL == "bytedance/seedream-4"
    assert settings.REPLICATE_IMAGE_SIZE == "2K"
    assert "r8_token" not in repr(settings)


def test_the_replicate_base_url_is_the_host_root() -> None:
    from app.wiring import build_generator

    with pytest.raises(ValueError, match="without /v1"):
        build_generator(
            _settings(
                GENERATOR="replicate",
                REPLICATE_API_TOKEN="r8_token",
                REPLICATE_BASE_URL="http://127.0.0.1:9001/v1",
            )
        )


def test_production_names_every_offending_setting_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        _settings(ENV="prod")
    message = str(info.value)
    for name in (
        "SECRET_KEY",
        "REFRESH_SECRET_KEY",
        "ADMIN_PASSWORD",
        "DATABASE_URL",
        "RATE_LIMIT_STORAGE_URL",
        "EMAIL_BACKEND=local",
        "MAIL_FROM",
        "FRONTEND_URL",
        "PUBLIC_BASE_URL",
    ):
        assert name in message


def test_production_with_several_processes_and_redis_everywhere_starts() -> None:
    settings = _settings(
        **SAFE_PROD,
        WEB_CONCURRENCY="4",
        JOB_BROKER_URL="redis://redis:6379/1",
        METRICS_ENABLED="true",
        METRICS_TOKEN="m" * 40,
    )
    assert settings.WEB_CONCURRENCY == 4


def test_docs_are_off_in_production_unless_asked_and_on_in_development() -> None:
    assert _settings().DOCS_ENABLED
    assert not _settings(**SAFE_PROD).DOCS_ENABLED
    assert _settings(**SAFE_PROD, DOCS_ENABLED="true").DOCS_ENABLED


def test_the_playground_is_on_in_development_and_off_in_production() -> None:
    assert _settings().PLAYGROUND_ENABLED
    assert not _settings(PLAYGROUND_ENABLED="false").PLAYGROUND_ENABLED
    assert not _settings(**SAFE_PROD).PLAYGROUND_ENABLED


def test_development_buys_on_the_local_checkout_unless_told_otherwise() -> None:
    assert _settings().payments_backend == "local"
    assert _settings(PAYMENTS_BACKEND="off").payments_backend is None
    assert _settings(PAYMENTS_BACKEND="dodo").payments_backend == "dodo"
    assert _settings(DODO_PAYMENTS_API_KEY="key").payments_backend == "dodo"


def test_production_never_falls_back_to_the_local_checkout() -> None:
    assert _settings(**SAFE_PROD).payments_backend is None


def test_secrets_do_not_leak_through_repr() -> None:
    settings = _settings(**SAFE_PROD)
    assert "s" * 48 not in repr(settings)


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite"),
    ],
)
def test_database_urls_are_converted_to_async_drivers(raw: str, driver: str) -> None:
    assert normalise_database_url(raw).drivername == driver


def test_run_py_in_production_with_default_secrets_exits_non_zero_naming_settings(
    tmp_path: object,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SAFE_PROD}
    env["ENV"] = "prod"
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), "--skip-migrations"],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    for name in ("SECRET_KEY", "REFRESH_SECRET_KEY", "ADMIN_PASSWORD", "DATABASE_URL"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_run_py_with_several_workers_and_in_process_jobs_is_refused_in_json(
    tmp_path: object,
) -> None:
    """`--workers 3` counts like WEB_CONCURRENCY=3: in-process jobs would run in each process.
    The refusal itself is a JSON log line, like every line in production."""
    env = {k: v for k, v in os.environ.items() if k not in SAFE_PROD and k != "JOB_BROKER_URL"}
    env.update(SAFE_PROD)
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), "--skip-migrations", "--workers", "3"],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert any("JOB_BROKER_URL" in line["message"] for line in lines), result.stderr
    assert "WEB_CONCURRENCY=3" in result.stderr
