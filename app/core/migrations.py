"""Apply the database migrations: `python -m app.core.migrations` (`make migrate`), also run by
run.py before serving. Logs in the process's format (JSON in production), like every line."""

from __future__ import annotations

import logging
import sys

from alembic import command
from alembic.config import Config
from pydantic import ValidationError

from app.core.config import PROJECT_ROOT, get_settings
from app.core.logging import configure_process_logging

logger = logging.getLogger("hairtryon.migrations")


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    # The process configured logging already; alembic.ini's plain-text handlers stay unused.
    config.attributes["configure_logger"] = False
    return config


def upgrade_head(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def report_configuration_error(exc: ValidationError) -> None:
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        logger.error("configuration error: %s: %s", where, error["msg"])


def main() -> None:
    configure_process_logging()
    try:
        settings = get_settings()
    except ValidationError as exc:
        report_configuration_error(exc)
        sys.exit(2)
    upgrade_head(settings.DATABASE_URL)
    logger.info("database at the latest migration")


if __name__ == "__main__":
    main()
