"""The share page's HTML: a jinja2 template, autoescaped, no script at all."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.sharing.service import SharedPair

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    auto_reload=False,
)
# No script, no outside origin: the page's pictures come from its own routes.
PAGE_POLICY = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    # Revocation takes effect at once, and the link stays out of search engines.
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


def render_pair(pair: SharedPair) -> str:
    return _TEMPLATES.get_template("share.html").render(pair=pair)


def render_gone() -> str:
    return _TEMPLATES.get_template("gone.html").render()
