"""GET / (the try-on playground) and GET /dev/mail (the local mailbox): development pages,
left out of the OpenAPI schema (they are not API)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from app.api.deps import SettingsDep
from app.core.errors import NotFound
from app.playground.mailbox import DevMailReader
from app.playground.pages import MAIL_CSP, mail_page, playground_csp

STATIC_DIR = Path(__file__).parent / "static"
# A page for people, not a cache: a new version shows on reload.
_NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def playground(settings: SettingsDep) -> FileResponse:
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
