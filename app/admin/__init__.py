"""The back office at /admin (SPEC §7): sqladmin views, the auth backend, the dashboard.
The panel is built at the first /admin request (app/admin/lazy.py)."""

from app.admin.lazy import mount_admin

__all__ = ["mount_admin"]
