"""Start the API: validate settings, apply migrations, then serve with uvicorn.

python run.py [--reload] [--host HOST] [--port PORT] [--workers N] [--skip-migrations]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import uvicorn
from alembic import command
from alembic.config import Config
from pydantic import ValidationError

from app.core.config import PROJECT_ROOT, Settings, get_settings


def _load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(f"configuration error: {where}: {error['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def _apply_migrations(database_url: str) -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the HairTryOn API.")
    parser.add_argument("--host", help="default: HOST")
    parser.add_argument("--port", type=int, help="default: PORT")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    parser.add_argument("--skip-migrations", action="store_true")
    args = parser.parse_args(argv)
    # The flags are the settings HOST and PORT: set them in the environment before anything
    # reads settings, so links, file URLs and checkouts (PUBLIC_BASE_URL's default) use the
    # port the server listens on, in this process and in every worker or reloader it starts.
    if args.host is not None:
        os.environ["HOST"] = args.host
    if args.port is not None:
        os.environ["PORT"] = str(args.port)
    get_settings.cache_clear()
    settings = _load_settings()

    if not args.skip_migrations:
        _apply_migrations(settings.DATABASE_URL)
    uvicorn.run(
        "app.main:app_factory",
        factory=True,
        host=settings.HOST,
        port=settings.PORT,
        workers=None if args.reload else args.workers,
        reload=args.reload,
        reload_dirs=[str(Path(PROJECT_ROOT) / "app")] if args.reload else None,
        access_log=False,
        proxy_headers=False,
        log_config=None,
    )


if __name__ == "__main__":
    main()
