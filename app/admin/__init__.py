"""The back office at /admin (SPEC §7): sqladmin views, the auth backend, the dashboard."""

from app.admin.panel import mount_admin

__all__ = ["mount_admin"]
