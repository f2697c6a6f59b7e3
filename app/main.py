"""Application factory: `create_app()` wires settings, resources, middleware and routers."""

from __future__ import annotations

import gc
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.middleware.sessions import SessionMiddleware

from app.admin import mount_admin
from app.api.deps import is_rate_limited
from app.api.health import router as health_router
from app.api.v1 import api_router
from app.core.body_limit import BodyLimitMiddleware, route_caps
from app.core.config import Settings, get_settings
from app.core.edge import EdgeMiddleware
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.openapi import install_openapi_completion, operation_id
from app.core.path_scoped import PathScopedMiddleware
from app.core.rate_limit import parse_networks
from app.core.telemetry import fastapi_telemetry, instrument_app
from app.files.router import media_router
from app.generation.router import status_route
from app.generation.status_lane import StatusLane
from app.generation.webhook_router import replicate_webhook_router
from app.payments.router import webhook_router
from app.playground.router import STATIC_DIR as PLAYGROUND_STATIC_DIR
from app.playground.router import router as playground_router
from app.resources import Resources
from app.sharing.router import page_router as share_page_router
from app.sharing.tokens import PAGE_PREFIX as SHARE_PAGE_PREFIX

logger = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"

# Any port on the loopback names, so a dev server of the SPA on another port works.
_DEV_ORIGIN_REGEX = r"^http://(localhost|127\.0\.0\.1)(:\d+)?$"
OAUTH_STATE_PATH = "/api/v1/auth/google"


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    """Build the app. Tests pass `resources` to share a database connection; the app then
    leaves closing them to the caller."""
    settings = settings or (resources.settings if resources else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = resources is None
        app.state.resources = resources or Resources.build(settings)
        await app.state.resources.start()
        await admin.prepare(app.state.resources)
        # Everything built so far lives as long as the process: keep it out of the cyclic
        # collector, whose full passes over it stalled the event loop for 100-250 ms.
        gc.collect()
        gc.freeze()
        logger.info("HairTryOn API starting (ENV=%s)", settings.ENV)
        try:
            yield
        finally:
            if owned:
                await app.state.resources.close()

    app = _new_app(
        settings.DOCS_ENABLED,
        title="HairTryOn API",
        version="1.0.0",
        summary="Upload a selfie, pick a hairstyle, get a photo of yourself wearing it.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # A redirect from /x/ to /x loses webhook deliveries (providers do not follow them).
        redirect_slashes=False,
        telemetry=fastapi_telemetry(settings),
    )
    install_openapi_completion(app, rate_limited=is_rate_limited)
    install_error_handlers(app)
    app.include_router(health_router)
    if settings.METRICS_ENABLED:
        # Imported only when served: prometheus_client is not loaded without /metrics.
        from app.metrics.router import router as metrics_router

        app.include_router(metrics_router)
    app.include_router(api_router)
    app.include_router(webhook_router)
    app.include_router(replicate_webhook_router)
    app.include_router(media_router)
    if settings.PLAYGROUND_ENABLED:
        # GET / and /dev/mail: the product in a browser on `make run` (app/playground/).
        app.include_router(playground_router)
        app.mount("/playground", StaticFiles(directory=PLAYGROUND_STATIC_DIR), name="playground")
    app.include_router(share_page_router)
    # The status poll, answered ahead of the router stack (the route stays declared for the docs).
    app.add_middleware(StatusLane, route=status_route())
    # Innermost of ours but the status lane, so a 413 still carries the CORS headers and the
    # request id.
    app.add_middleware(
        BodyLimitMiddleware,
        default_cap=settings.MAX_JSON_BODY_BYTES,
        caps=route_caps(
            iter_route_contexts(app.routes), webhook_cap=settings.MAX_WEBHOOK_BODY_BYTES
        ),
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[settings.frontend_origin],
        allow_origin_regex=None if settings.is_production else _DEV_ORIGIN_REGEX,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "Idempotency-Key", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    _add_oauth_state_cookie(app, settings)
    # Request id, security headers, access log and metrics: one layer (app/core/edge.py).
    app.add_middleware(
        EdgeMiddleware,
        trusted_proxies=parse_networks(settings.TRUSTED_PROXIES.split(",")),
        metrics=settings.METRICS_ENABLED,
        # A share link's token is the page's whole credential: its path segment is not logged.
        secret_prefixes=(SHARE_PAGE_PREFIX,),
    )
    # Thumbnails that ship with the catalogue.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # The back office: sqladmin with its own session cookie, CSRF and CSP (app/admin/), built
    # at its first request.
    admin = mount_admin(app, settings)
    instrument_app(app, settings)
    return app


def _new_app(docs: bool, **options: Any) -> FastAPI:
    if not docs:
        return FastAPI(docs_url=None, redoc_url=None, openapi_url=None, **options)
    # /docs and /redoc with their scripts and styles served by us from the assets that
    # fastapi-offline ships, not from a CDN: they render offline and behind strict egress.
    return FastAPIOffline(
        docs_url="/docs", redoc_url="/redoc", openapi_url="/openapi.json", **options
    )


def _add_oauth_state_cookie(app: FastAPI, settings: Settings) -> None:
    """Google sign-in keeps its state and nonce in a signed cookie scoped to the Google routes
    (so parallel API calls cannot overwrite it), living 10 minutes: authlib does not age the
    state itself. The middleware runs only there: no cookie parsing on any other request."""
    key = hmac.new(
        settings.SECRET_KEY.get_secret_value().encode(), b"oauth-state-cookie", hashlib.sha256
    ).hexdigest()
    wrap = partial(
        SessionMiddleware,
        secret_key=key,
        session_cookie="hairtryon_oauth",
        max_age=600,
        path=OAUTH_STATE_PATH,
        same_site="lax",
        https_only=settings.public_base_url.startswith("https://"),
    )
    app.add_middleware(PathScopedMiddleware, prefix=OAUTH_STATE_PATH, wrap=wrap)


def app_factory() -> FastAPI:
    """`uvicorn --factory app.main:app_factory`; run.py uses app.asgi, which configures
    logging before this module is imported."""
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.LOG_LEVEL)
    return create_app(settings)
