"""GET / (the try-on playground) and GET /dev/mail (the local mailbox): development pages,
left out of the OpenAPI schema (they are not API)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from app.api.deps import SettingsDep
from app.core.errors import NotFound
from app.playground.mailbox import DevMailReader
from app.playground.pages import MAIL_CSP, loopback_alias_redirect, mail_page, playground_csp

STATIC_DIR = Path(__file__).parent / "static"
# A page for people, not a cache: a new version shows on reload.
_NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def playground(request: Request, settings: SettingsDep) -> Response:
    canonical = loopback_alias_redirect(str(request.url), settings.public_base_url)
    if canonical is not None:
        return RedirectResponse(canonical, status_code=307, headers=_NO_STORE)
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html",
        headers={**_NO_STORE, "Content-Security-Policy": playground_csp(settings)},
    )


@router.get("/dev/mail")
async def dev_mail(settings: SettingsDep) -> HTMLResponse:
    # With Brevo the mail left the machine: there is nothing here to show.
    if settings.EMAIL_BACKEND != "local":
        raise NotFound()
    messages = await DevMailReader(settings.MAIL_DIR).newest()
    return HTMLResponse(
        mail_page(messages, str(settings.MAIL_DIR)),
        headers={**_NO_STORE, "Content-Security-Policy": MAIL_CSP},
    )
