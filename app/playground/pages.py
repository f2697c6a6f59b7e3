"""What the development pages send: the playground's Content-Security-Policy and the
/dev/mail page, rendered with every mail-supplied value escaped."""

from __future__ import annotations

from html import escape
from urllib.parse import quote, urlsplit

from app.core.config import Settings
from app.core.sites import is_loopback
from app.playground.mailbox import DevMail


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def loopback_alias_redirect(request_url: str, public_base_url: str) -> str | None:
    """The playground on PUBLIC_BASE_URL when it was opened on another loopback name
    (http://127.0.0.1:8000 for http://localhost:8000): file URLs, checkouts and the local
    upload target are all built on PUBLIC_BASE_URL, and on another origin the page's policy
    (and the cookies' host) would not match them. Only between loopback names: behind a proxy
    the host a request arrives on is not the one browsers use, and redirecting there loops."""
    asked, public = urlsplit(request_url), urlsplit(public_base_url)
    if not (asked.hostname and public.hostname):
        return None
    if not (is_loopback(asked.hostname) and is_loopback(public.hostname)):
        return None
    if (asked.scheme, asked.netloc) == (public.scheme, public.netloc):
        return None
    return f"{public.scheme}://{public.netloc}{asked.path}" + (
        f"?{asked.query}" if asked.query else ""
    )


def storage_origins(settings: Settings) -> list[str]:
    """Where selfies are posted and results are loaded from, besides this server: the S3
    endpoint browsers reach, or the CDN."""
    if settings.STORAGE_BACKEND != "s3":
        return []
    found = [
        _origin(settings.S3_PUBLIC_ENDPOINT_URL or settings.S3_ENDPOINT_URL),
        f"https://{settings.CDN_DOMAIN}" if settings.CDN_DOMAIN else None,
    ]
    if not settings.S3_PUBLIC_ENDPOINT_URL and not settings.S3_ENDPOINT_URL:
        found.append("https://*.amazonaws.com")
    return [origin for origin in found if origin]


def playground_csp(settings: Settings) -> str:
    """Scripts and styles only from this server (the page loads nothing from outside);
    images, uploads and the camera's blobs from here and from the storage it uses."""
    storage = " ".join(storage_origins(settings))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob: {storage}".strip(),
            "media-src 'self' blob:",
            f"connect-src 'self' {storage}".strip(),
            "form-action 'self'",
            "base-uri 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        )
    )


# The mails' HTML runs in sandboxed srcdoc frames, which inherit this policy: no script at
# all, no request outside this server; inline styles stay (emails are styled inline).
MAIL_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# No allow-scripts and no allow-same-origin: the mail cannot run code or read this page.
# Links open in a new tab (popups escape the sandbox, so the verify page works normally).
MAIL_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"


def mail_page(messages: list[DevMail], mail_dir: str) -> str:
    items = "".join(_message(mail) for mail in messages) or (
        '<p class="empty">No mail yet. Sign up on <a href="/">the playground</a>: the code '
        "arrives here.</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Dev mail · HairTryOn</title>"
        '<link rel="stylesheet" href="/playground/playground.css"></head>'
        '<body class="mail"><header class="bar"><a class="brand" href="/">HairTryOn</a>'
        '<span class="muted">Dev mail — what the local mail backend wrote to '
        f"<code>{escape(mail_dir)}</code>, newest first</span></header>"
        f'<main class="mailbox">{items}</main></body></html>'
    )


def _message(mail: DevMail) -> str:
    codes = "".join(
        # The playground picks the code up from its query and fills it in.
        f'<a class="code" href="/?code={quote(code)}" title="Open the playground with this code">'
        f"{escape(code)}</a>"
        for code in mail.codes
    )
    links = "".join(
        f'<li><a href="{escape(link, quote=True)}" target="_blank" rel="noopener noreferrer">'
        f"{escape(link)}</a></li>"
        for link in mail.links
    )
    body = (
        f'<iframe class="mail-html" title="{escape(mail.subject, quote=True)}" '
        f'sandbox="{MAIL_SANDBOX}" referrerpolicy="no-referrer" '
        f'srcdoc="{escape(mail.html, quote=True)}"></iframe>'
        if mail.html is not None
        else f"<pre>{escape(mail.text)}</pre>"
    )
    return (
        '<article class="card message">'
        f'<div class="meta"><strong class="subject">{escape(mail.subject)}</strong>'
        f'<span>to {escape(mail.to)}</span><span class="muted">{escape(mail.sent_at)}</span></div>'
        f"{f'<div class=codes>Codes: {codes}</div>' if codes else ''}"
        f"{f'<ul class=links>{links}</ul>' if links else ''}"
        f"{body}"
        f"<details><summary>Plain text</summary><pre>{escape(mail.text)}</pre></details>"
        "</article>"
    )
