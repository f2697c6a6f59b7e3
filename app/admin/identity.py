"""Who is acting in /admin: the bootstrap account or a user with the admin role."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request


@dataclass(frozen=True, slots=True)
class AdminIdentity:
    # The bootstrap username or the admin user's email: what audit rows name.
    name: str
    user_id: int | None


class NotSignedIn(RuntimeError):
    """An admin route ran without `AdminAuth.authenticate` having named the admin (a bug)."""


def current_admin(request: Request) -> AdminIdentity:
    identity = getattr(request.state, "admin", None)
    if not isinstance(identity, AdminIdentity):
        raise NotSignedIn()
    return identity
