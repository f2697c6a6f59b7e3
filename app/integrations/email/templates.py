"""The transactional emails' wording, rendered from Jinja2 templates in `app/templates/email`.

Subjects never carry the code: subjects are logged, bodies are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from app.integrations.email.port import OutgoingEmail

PRODUCT_NAME = "HairTryOn"
DEFAULT_DIRECTORY = Path(__file__).resolve().parents[2] / "templates" / "email"
TEMPLATE_NAMES = ("verification", "login_code", "password_reset", "welcome")


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    html: str = field(repr=False)
    text: str = field(repr=False)

    def addressed_to(self, email: str, name: str) -> OutgoingEmail:
        return OutgoingEmail(
            to_email=email, to_name=name, subject=self.subject, html=self.html, text=self.text
        )


class EmailTemplates:
    def __init__(self, directory: Path | None = None, *, code_ttl_minutes: int = 15) -> None:
        env = Environment(
            loader=FileSystemLoader(directory or DEFAULT_DIRECTORY),
            # Only the .html templates are escaped: a name like "Tom & Jerry" must read as
            # such in the plain-text part.
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # Loaded once here (a missing template fails at startup, not in a request), and
            # never re-checked on disk while serving.
            auto_reload=False,
        )
        self._templates: dict[str, tuple[Template, Template]] = {
            name: (env.get_template(f"{name}.html"), env.get_template(f"{name}.txt"))
            for name in TEMPLATE_NAMES
        }
        self._code_ttl_minutes = code_ttl_minutes

    def verification(self, name: str, code: str, verify_url: str) -> RenderedEmail:
        return self._render(
            "verification",
            f"Confirm your {PRODUCT_NAME} email",
            name=name,
            code=code,
            verify_url=verify_url,
            expires_minutes=self._code_ttl_minutes,
        )

    def login_code(self, name: str, code: str) -> RenderedEmail:
        return self._render(
            "login_code",
            f"Your {PRODUCT_NAME} sign-in code",
            name=name,
            code=code,
            expires_minutes=self._code_ttl_minutes,
        )

    def password_reset(self, name: str, reset_url: str) -> RenderedEmail:
        return self._render(
            "password_reset",
            f"Reset your {PRODUCT_NAME} password",
            name=name,
            reset_url=reset_url,
        )

    def welcome(self, name: str, app_url: str) -> RenderedEmail:
        return self._render("welcome", f"Welcome to {PRODUCT_NAME}", name=name, app_url=app_url)

    def _render(self, template: str, subject: str, **context: Any) -> RenderedEmail:
        html, text = self._templates[template]
        context = {"product": PRODUCT_NAME, "subject": subject, **context}
        return RenderedEmail(subject=subject, html=html.render(context), text=text.render(context))
