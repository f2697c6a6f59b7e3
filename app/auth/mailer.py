"""The account emails, rendered now and sent once the transaction has committed."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from app.core.background import AfterCommit
from app.core.config import Settings
from app.integrations.email import (
    EmailSender,
    EmailTemplates,
    RenderedEmail,
    deliver_with_retries,
)

Schedule = Callable[[AfterCommit], None]


class AccountMailer:
    def __init__(
        self,
        sender: EmailSender,
        templates: EmailTemplates,
        settings: Settings,
        schedule: Schedule,
    ) -> None:
        self.sender = sender
        self.templates = templates
        self.settings = settings
        self.schedule = schedule

    def verification(self, email: str, name: str, code: str, link_token: str) -> None:
        link = f"{self.settings.public_base_url}/api/v1/auth/verify?token={quote(link_token)}"
        self._send(email, name, self.templates.verification(name, code, link))

    def login_code(self, email: str, name: str, code: str) -> None:
        self._send(email, name, self.templates.login_code(name, code))

    def password_reset(self, email: str, name: str, token: str) -> None:
        link = f"{self.settings.frontend_origin}/reset-password?token={quote(token)}"
        self._send(email, name, self.templates.password_reset(name, link))

    def welcome(self, email: str, name: str) -> None:
        self._send(
            email, name, self.templates.welcome(name, f"{self.settings.frontend_origin}/try")
        )

    def _send(self, email: str, name: str, rendered: RenderedEmail) -> None:
        message = rendered.addressed_to(email, name)

        async def deliver() -> None:
            await deliver_with_retries(self.sender, message)

        self.schedule(deliver)
