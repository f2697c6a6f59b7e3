from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import UndefinedError

from app.integrations.email import EmailTemplates
from app.integrations.email.templates import TEMPLATE_NAMES

VERIFY_URL = "http://127.0.0.1:8000/api/v1/auth/verify?token=opaque-handle-42"
RESET_URL = "http://localhost:5173/reset-password?token=reset-handle-77"


@pytest.fixture(scope="module")
def templates() -> EmailTemplates:
    return EmailTemplates()


def test_script_in_name_is_escaped_in_html_and_kept_verbatim_in_text(
    templates: EmailTemplates,
) -> None:
    name = "<script>alert('x')</script>"

    for email in (
        templates.verification(name, "123456", VERIFY_URL),
        templates.login_code(name, "123456"),
        templates.password_reset(name, RESET_URL),
        templates.welcome(name, "http://localhost:5173/try"),
    ):
        assert "<script>" not in email.html
        assert "&lt;script&gt;" in email.html
        assert name in email.text


def test_verification_email_has_code_link_and_expiry_in_both_parts(
    templates: EmailTemplates,
) -> None:
    email = templates.verification("Ana", "482913", VERIFY_URL)

    for body in (email.html, email.text):
        assert "482913" in body
        assert VERIFY_URL in body
        assert "15 minutes" in body
        assert "Ana" in body
        assert "HairTryOn" in body
    assert f'href="{VERIFY_URL}"' in email.html


def test_login_code_email_has_code_and_expiry_in_both_parts(templates: EmailTemplates) -> None:
    email = templates.login_code("Ana", "605118")

    for body in (email.html, email.text):
        assert "605118" in body
        assert "15 minutes" in body


def test_code_expiry_follows_the_configured_lifetime() -> None:
    email = EmailTemplates(code_ttl_minutes=10).login_code("Ana", "605118")

    assert "10 minutes" in email.text
    assert "10 minutes" in email.html


def test_password_reset_email_has_the_link_in_both_parts(templates: EmailTemplates) -> None:
    email = templates.password_reset("Ana", RESET_URL)

    assert RESET_URL in email.text
    assert f'href="{RESET_URL}"' in email.html


def test_welcome_email_links_to_the_app(templates: EmailTemplates) -> None:
    email = templates.welcome("Ana", "http://localhost:5173/try")

    assert "http://localhost:5173/try" in email.text
    assert 'href="http://localhost:5173/try"' in email.html
    assert "Welcome" in email.subject


def test_subjects_never_carry_the_code(templates: EmailTemplates) -> None:
    for email in (
        templates.verification("Ana", "482913", VERIFY_URL),
        templates.login_code("Ana", "482913"),
    ):
        assert "482913" not in email.subject
        assert "HairTryOn" in email.subject


def test_ampersand_in_name_is_not_html_escaped_in_text(templates: EmailTemplates) -> None:
    email = templates.welcome("Tom & Jerry", "http://localhost:5173/try")

    assert "Hi Tom & Jerry," in email.text
    assert "Hi Tom &amp; Jerry," in email.html


def test_rendered_email_repr_and_outgoing_email_repr_hide_the_bodies(
    templates: EmailTemplates,
) -> None:
    rendered = templates.login_code("Ana", "605118")
    outgoing = rendered.addressed_to("ana@example.com", "Ana")

    assert outgoing.to_email == "ana@example.com"
    assert outgoing.text == rendered.text
    assert "605118" not in repr(rendered)
    assert "605118" not in repr(outgoing)


def test_a_template_using_an_unknown_variable_fails_instead_of_rendering_blank(
    tmp_path: Path,
) -> None:
    for name in TEMPLATE_NAMES:
        (tmp_path / f"{name}.html").write_text("<p>{{ code }} {{ not_passed }}</p>")
        (tmp_path / f"{name}.txt").write_text("{{ code }}")
    templates = EmailTemplates(tmp_path)

    with pytest.raises(UndefinedError):
        templates.login_code("Ana", "605118")
