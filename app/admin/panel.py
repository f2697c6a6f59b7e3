"""The sqladmin panel at /admin: the Admin, its session maker and its audit backend. Imported
at the first /admin request (app/admin/lazy.py), not at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqladmin import Admin
from sqladmin.audit import AuditBackend, AuditEntry
from sqladmin.authentication import login_required
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.auth import AdminAuth
from app.admin.guard import csrf_token
from app.admin.identity import current_admin
from app.admin.views import MODEL_VIEWS, DashboardView, admin_service
from app.core.db import UnitSession

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI

    from app.admin.lazy import BootstrapPassword
    from app.core.config import Settings
    from app.resources import Resources

HERE = Path(__file__).parent


class AppSessions:
    """A session maker for sqladmin that resolves the process's database when called: the
    Database is built in the lifespan, after the admin is mounted. Its sessions are our
    unit-of-work sessions (write lock at the first write)."""

    class_ = UnitSession

    def __init__(self, resources: Callable[[], Resources]) -> None:
        self._resources = resources

    def configure(self, **_options: Any) -> None:
        """sqladmin sets autoflush/autocommit off; our sessionmaker already has them off."""

    def __call__(self, **options: Any) -> Any:
        return self._resources().database.sessionmaker(**options)


class AuditToTable(AuditBackend):
    """sqladmin's own edits (a style's prompt, a user's role) become admin_audit rows."""

    async def log(self, entry: AuditEntry, request: Request) -> None:
        admin = current_admin(request)
        await admin_service(request).record_edit(
            admin.name, entry.action, entry.identity, entry.pk, entry.changes
        )


class HairTryOnAdmin(Admin):
    @login_required
    async def index(self, request: Request) -> Response:
        return RedirectResponse(str(request.url_for("admin:view-dashboard")), status_code=302)


class _Mounted:
    """What sqladmin's `Admin` mounts itself on: the panel's Starlette app is kept here and
    served by `LazyAdmin`, which is already mounted at /admin."""

    app: Any = None

    def mount(self, path: str, app: Any, name: str | None = None) -> None:
        self.app = app


def build_admin(app: FastAPI, settings: Settings, bootstrap: BootstrapPassword) -> Any:
    """The sqladmin panel of `app` (served at /admin by app/admin/lazy.py's `LazyAdmin`)."""

    def resources() -> Resources:
        found: Resources = app.state.resources
        return found

    auth = AdminAuth(settings, resources, bootstrap)
    admin = HairTryOnAdmin(
        _Mounted(),  # type: ignore[arg-type]
        session_maker=AppSessions(resources),  # type: ignore[arg-type]
        base_url="/admin",
        title="HairTryOn admin",
        templates_dir=str(HERE / "templates"),
        authentication_backend=auth,
        audit_backend=AuditToTable(),
        static_files_kwargs={"directory": str(HERE / "static")},
    )
    auth.admin = admin
    admin.templates.env.globals["admin_csrf_token"] = lambda request: csrf_token(request.session)
    admin.admin.state.resources_of = resources
    admin.add_view(DashboardView)
    for view in MODEL_VIEWS:
        admin.add_view(view)
    return admin
