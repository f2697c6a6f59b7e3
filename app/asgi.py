"""uvicorn's entry point (`uvicorn --factory app.asgi:app_factory`, used by run.py).

Logging is configured before the application is imported, so the warnings libraries raise
while being imported are logged in the process's format (JSON in production) too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core.config import get_settings
from app.core.logging import configure_logging
from app.core.memory import return_large_allocations_to_os

if TYPE_CHECKING:
    from fastapi import FastAPI


def app_factory() -> FastAPI:
    # Before anything allocates a large buffer (see app/core/memory.py).
    return_large_allocations_to_os()
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.LOG_LEVEL)
    from app.main import create_app

    return create_app(settings)
