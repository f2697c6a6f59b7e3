"""Start the API: validate settings, apply migrations, then serve with uvicorn.

python run.py [--reload] [--host HOST] [--port PORT] [--workers N] [--skip-migrations]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # First, before anything else is imported or started: this process and the workers it
    # spawns ask glibc for huge pages on the large buffers of password checks and uploads
    # (app/core/memory.py; measured there). The re-executed run skips this (already set).
    from app.core.memory import restart_with_huge_page_malloc

    restart_with_huge_page_malloc()

if __name__ == "__mp_main__":
    # A uvicorn worker (or --reload's server process) re-imports this module as
    # multiprocessing's __mp_main__, and uvicorn's package imports its reloader, and with it
    # watchfiles (~1 MB), in every process. Only the supervisor watches files: here the import
    # fails as if watchfiles were not installed, and uvicorn falls back to its stat-based
    # reloader class, which a worker never runs either.
    sys.modules.setdefault("watchfiles", None)  # type: ignore[arg-type]

import uvicorn
from pydantic import ValidationError

from app.core.config import PROJECT_ROOT, Settings, get_settings
from app.core.logging import configure_logging, configure_process_logging

# uvicorn's supervisor kills a worker that has not answered its ping within this many seconds
# (its default is 5). The answer comes from a thread the worker starts only once it has
# imported run.py's modules; on a loaded machine that took 29 s, so with the default every
# worker was killed before it started, forever. A stuck worker is still replaced, later.
WORKER_HEALTHCHECK_TIMEOUT_S = 60


def _load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        from app.core.migrations import report_configuration_error

        report_configuration_error(exc)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the HairTryOn API.")
    parser.add_argument("--host", help="default: HOST")
    parser.add_argument("--port", type=int, help="default: PORT")
    parser.add_argument("--workers", type=int, help="default: WEB_CONCURRENCY")
    parser.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    parser.add_argument("--skip-migrations", action="store_true")
    args = parser.parse_args(argv)
    # The flags are the settings HOST, PORT and WEB_CONCURRENCY: set them in the environment
    # before anything reads settings, so links, file URLs and checkouts (PUBLIC_BASE_URL's
    # default) use the port the server listens on, in this process and in every worker or
    # reloader it starts, and the production guard judges the process count it will run.
    if args.host is not None:
        os.environ["HOST"] = args.host
    if args.port is not None:
        os.environ["PORT"] = str(args.port)
    if args.workers is not None:
        os.environ["WEB_CONCURRENCY"] = str(args.workers)
    # Then logging, so every line (the refusal of a bad configuration, alembic's, uvicorn's)
    # is in the production format when ENV=prod.
    configure_process_logging()
    get_settings.cache_clear()
    settings = _load_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.LOG_LEVEL)

    if not args.skip_migrations:
        # Imported here, not at the top: every uvicorn worker re-imports this module (as
        # multiprocessing's __mp_main__) and never migrates; alembic and mako cost ~8 MB each.
        from app.core.migrations import upgrade_head

        upgrade_head(settings.DATABASE_URL)
    uvicorn.run(
        "app.asgi:app_factory",
        factory=True,
        host=settings.HOST,
        port=settings.PORT,
        workers=None if args.reload else settings.WEB_CONCURRENCY,
        reload=args.reload,
        reload_dirs=[str(Path(PROJECT_ROOT) / "app")] if args.reload else None,
        access_log=False,
        proxy_headers=False,
        log_config=None,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_S,
    )


if __name__ == "__main__":
    main()
