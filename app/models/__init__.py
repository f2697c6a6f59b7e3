"""Every ORM model, imported here so Alembic and the admin see the whole schema."""

from app.models.base import Base
from app.models.user import User, UserRole

__all__ = ["Base", "User", "UserRole"]
