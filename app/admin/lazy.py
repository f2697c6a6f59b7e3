"""/admin is mounted at start-up, but the sqladmin panel behind it (sqladmin, wtforms, the
views; ~4 MB per process) is built when the first request reaches it (issue 14, memory).

Few people use the back office, and most workers never serve it: they do not load it at all.
The worker that does pays the import once, at that first request, in a worker thread so the
event loop keeps answering the other requests meanwhile. What must happen at start-up still
does: the bootstrap password is hashed in the lifespan (`prepare`), so the first admin login
costs what every later one does.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.routing import BaseRoute
    from starlette.types import Receive, Scope, Send

    from app.core.config import Settings
    from app.resources import Resources

PANEL_MODULE = "app.admin.panel"


class BootstrapPassword:
    """The argon2 hash of ADMIN_PASSWORD, made once per process."""

    def __init__(self, settings: Settings) -> None:
        self._password = settings.ADMIN_PASSWORD
        self.hash: str | None = None

    async def prepare(self, resources: Resources) -> str:
        if self.hash is None:
            self.hash = await resources.passwords.hash(self._password.get_secret_value())
        return self.hash


class LazyAdmin:
    """The ASGI app mounted at /admin: the sqladmin panel, built at the first request."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self._app = app
        self._settings = settings
        self.bootstrap = BootstrapPassword(settings)
        self._panel: Any = None  # sqladmin.Admin (untyped)
        self._building = asyncio.Lock()

    async def prepare(self, resources: Resources) -> None:
        """At start-up (the lifespan): hash the bootstrap password; the panel stays unbuilt."""
        await self.bootstrap.prepare(resources)

    def panel(self) -> Any:
        """The sqladmin `Admin`, built now if no request has built it yet."""
        if self._panel is None:
            build = importlib.import_module(PANEL_MODULE).build_admin
            self._panel = build(self._app, self._settings, self.bootstrap)
        return self._panel

    @property
    def routes(self) -> list[BaseRoute]:
        """The panel's routes: Starlette's `Mount.routes` reads them for `url_for("admin:…")`,
        which only the panel's own pages call (it is built by then)."""
        routes: list[BaseRoute] = self.panel().admin.routes
        return routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._panel is None:
            async with self._building:
                if self._panel is None:
                    # The import is most of the cost (hundreds of ms on a loaded machine): off
                    # the event loop. Building the Admin from the imported module is quick.
                    await asyncio.to_thread(importlib.import_module, PANEL_MODULE)
                    self.panel()
        await self._panel.admin(scope, receive, send)


def mount_admin(app: FastAPI, settings: Settings) -> LazyAdmin:
    """Mount the back office on `app` at /admin; returns it (prepared by the lifespan)."""
    admin = LazyAdmin(app, settings)

    async def to_panel(request: Request) -> Response:
        # The mount answers /admin/...; the address people type has no slash (and the app
        # does not redirect slashes).
        return RedirectResponse("/admin/", status_code=307)

    app.add_route("/admin", to_panel, include_in_schema=False)
    app.mount("/admin", app=admin, name="admin")
    app.state.admin = admin  # the tests walk its panel's views and routes (BFLA-01)
    return admin
