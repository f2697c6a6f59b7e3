"""The local test checkout page (PAYMENTS_BACKEND=local): what Dodo's hosted page does, on this
server, so a person can try the purchase flow offline."""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, RedirectResponse

from app.api.deps import ResourcesDep
from app.core.errors import NotFound
from app.core.types import Text
from app.integrations.payments.local import LocalCheckout
from app.resources import Resources

router = APIRouter(prefix="/payments/local-checkout", tags=["payments"], include_in_schema=False)
SessionId = Annotated[Text, Path(min_length=1, max_length=64)]
# Where to send the buyer back instead of PAYMENT_RETURN_URL: a path on this server only (the
# playground at / is its own return page). Never another host: no open redirect.
ReturnPath = Annotated[
    str | None,
    Query(alias="return", max_length=200, pattern=r"^/([A-Za-z0-9_.~-][A-Za-z0-9/_.~-]*)?$"),
]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>HairTryOn test checkout</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
.card{{border:1px solid #ddd;border-radius:12px;padding:1.5rem}}button{{padding:.6rem 1.2rem;
margin-right:.5rem;border-radius:8px;border:0;cursor:pointer}}.pay{{background:#2563eb;color:#fff}}
.note{{color:#a15c00;font-size:.9rem}}</style></head><body><div class="card">
<h1>Test checkout</h1><p class="note">Local test payments: no money moves.</p>
<p>{quantity} credits for <strong>{amount} {currency}</strong><br>{email}</p>
<form method="post" action="{action}/pay{query}" style="display:inline">
<button class="pay" type="submit">Pay</button></form>
<form method="post" action="{action}/cancel{query}" style="display:inline">
<button type="submit">Cancel</button></form></div></body></html>"""


def _local(resources: Resources) -> LocalCheckout:
    if not isinstance(resources.payments, LocalCheckout):
        raise NotFound()
    return resources.payments


@router.get("/{session_id}", response_class=HTMLResponse)
async def checkout_page(
    session_id: SessionId, resources: ResourcesDep, return_path: ReturnPath = None
) -> HTMLResponse:
    local = _local(resources)
    session = local.session(session_id)
    if session is None:
        raise NotFound()
    request = session.request
    return HTMLResponse(
        PAGE.format(
            quantity=request.quantity,
            amount=f"{local.unit_price_minor * request.quantity / 100:.2f}",
            currency=escape(local.currency),
            email=escape(request.customer_email),
            action=escape(f"{local.public_base_url}/api/v1/payments/local-checkout/{session_id}"),
            query=escape("?" + urlencode({"return": return_path}) if return_path else ""),
        )
    )


@router.post("/{session_id}/pay")
async def pay(
    session_id: SessionId, resources: ResourcesDep, return_path: ReturnPath = None
) -> RedirectResponse:
    return await _finish(session_id, resources, return_path, succeed=True)


@router.post("/{session_id}/cancel")
async def cancel(
    session_id: SessionId, resources: ResourcesDep, return_path: ReturnPath = None
) -> RedirectResponse:
    return await _finish(session_id, resources, return_path, succeed=False)


async def _finish(
    session_id: str, resources: Resources, return_path: str | None, *, succeed: bool
) -> RedirectResponse:
    local = _local(resources)
    if local.session(session_id) is None:
        raise NotFound()
    payment = await local.pay(session_id, succeed=succeed)
    query = urlencode({"payment_id": payment.payment_id, "status": str(payment.status)})
    target = (
        f"{local.public_base_url}{return_path}"
        if return_path
        else resources.settings.payment_return_url
    )
    return RedirectResponse(f"{target}?{query}", status_code=303)
