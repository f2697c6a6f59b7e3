"""/api/v1/payments (aliases under /api/v1/payment): buying credits (SPEC §6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from app.core.body_limit import webhook_body
from app.core.openapi import error_responses
from app.core.types import Text
from app.models import Transaction
from app.payments.dependencies import Buyer, PaymentServiceDep, PricingServiceDep
from app.payments.schemas import (
    MAX_QUANTITY,
    MIN_QUANTITY,
    CheckoutRead,
    CheckoutRequestBody,
    PricingRead,
    TransactionRead,
    WebhookAck,
)

AUTH_ERRORS = ("NO_COOKIES_FOUND", "NOT_AUTHENTICATED", "EMAIL_NOT_VERIFIED", "CSRF_FAILED")
router = APIRouter(prefix="/payments", tags=["payments"], responses=error_responses(*AUTH_ERRORS))
alias_router = APIRouter(prefix="/payment", tags=["payments"])
# Public: no sign-in, so it carries none of the auth errors above.
pricing_router = APIRouter(prefix="/payments", tags=["payments"])
# Outside the rate-limited /api/v1 group: the provider posts from a few addresses, often.
webhook_router = APIRouter(prefix="/api/v1", tags=["payments"])


@pricing_router.get(
    "/pricing",
    summary="The price of one credit, as the provider's product sets it (public)",
    responses=error_responses("PAYMENTS_NOT_CONFIGURED", "PRICING_UNAVAILABLE"),
)
async def pricing(prices: PricingServiceDep) -> PricingRead:
    """Read from the provider's product and cached for a few minutes, so a web app can show
    the real price: before tax (unless `tax_inclusive`; tax for the buyer's address is added
    at checkout) and before any discount code. While the provider cannot be reached the last
    known price is served; with none known yet, 503 `PRICING_UNAVAILABLE` with `Retry-After`."""
    product = await prices.current()
    return PricingRead(
        product_id=product.product_id,
        price_minor=product.price_minor,
        price=product.price_minor / 100,
        currency=product.currency,
        tax_inclusive=product.tax_inclusive,
        min_quantity=MIN_QUANTITY,
        max_quantity=MAX_QUANTITY,
    )


def _read(transaction: Transaction) -> TransactionRead:
    return TransactionRead(
        id=transaction.id,
        session_id=transaction.session_id,
        user_id=transaction.user_id,
        product_id=transaction.product_id,
        amount=transaction.amount_minor / 100,
        amount_minor=transaction.amount_minor,
        currency=transaction.currency,
        tax_minor=transaction.tax_minor,
        settlement_amount_minor=transaction.settlement_amount_minor,
        settlement_currency=transaction.settlement_currency,
        status=transaction.status,
        quantity=transaction.quantity,
        credits_added=transaction.credits_added,
        created_at=transaction.created_at,
    )


@router.post(
    "/checkout",
    summary="Start buying credits (one product priced per credit)",
    responses=error_responses("PAYMENTS_NOT_CONFIGURED", "PAYMENT_PROVIDER_ERROR"),
)
async def checkout(
    body: CheckoutRequestBody, user: Buyer, payments: PaymentServiceDep
) -> CheckoutRead:
    """Redirect the buyer to `checkout_url`. Credits arrive with the provider's webhook (or
    reconciliation): the quantity bought, whatever tax, discount or currency the provider
    charged. If the provider cannot be reached: 502, and no transaction is left behind."""
    session_id, checkout_url = await payments.checkout(user, body.quantity)
    return CheckoutRead(session_id=session_id, checkout_url=checkout_url)


alias_router.add_api_route(
    "/create-checkout",
    checkout,
    methods=["POST"],
    summary="Alias of /payments/checkout",
    name="create_checkout",
    response_model=CheckoutRead,
    responses=error_responses("PAYMENTS_NOT_CONFIGURED", "PAYMENT_PROVIDER_ERROR", *AUTH_ERRORS),
)


@router.get(
    "/transaction/{payment_id}",
    summary="One of your transactions, by the provider's payment id",
    responses=error_responses("TRANSACTION_NOT_FOUND"),
)
async def transaction(
    payment_id: Annotated[Text, Path(min_length=1, max_length=128)],
    user: Buyer,
    payments: PaymentServiceDep,
) -> TransactionRead:
    """If the webhook has not arrived yet, the provider is asked and the answer applied, so
    the return page does not show a false failure. Any attempt's payment id finds its
    transaction: after a declined card and a successful retry on the same checkout, the
    declined attempt's id shows the transaction as succeeded. `amount`/`amount_minor`/
    `currency` are what the customer paid (tax included) once paid; `settlement_*` what the
    merchant receives. An id that cannot be a payment id (e.g. with a NUL byte) is 404."""
    return _read(await payments.transaction(user, payment_id))


@router.get("/transactions", summary="Your transactions, newest first")
async def transactions(user: Buyer, payments: PaymentServiceDep) -> list[TransactionRead]:
    return [_read(item) for item in await payments.list(user)]


@webhook_body
async def _webhook(request: Request, payments: PaymentServiceDep) -> WebhookAck:
    """Standard Webhooks signature over the raw body; each webhook-id processed once. A
    verified event we cannot match to a checkout (no metadata, unknown session, another
    product) is stored with its outcome and answered 200: it changes nothing."""
    await payments.receive_webhook(await request.body(), request.headers)
    return WebhookAck(received=True)


# The raw body and the Standard Webhooks headers the signature covers.
WEBHOOK_OPENAPI: dict[str, Any] = {
    "parameters": [
        {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}


# With and without a trailing slash: providers do not follow redirects (PAY-07).
for _path in (
    "/payments/webhook",
    "/payments/webhook/",
    "/payment/webhook",
    "/payment/webhook/",
):
    webhook_router.add_api_route(
        _path,
        _webhook,
        methods=["POST"],
        summary="Payment provider webhooks",
        name=f"webhook{_path.replace('/', '_')}",
        response_model=WebhookAck,
        responses=error_responses("INVALID_SIGNATURE", "PAYMENTS_NOT_CONFIGURED"),
        openapi_extra=WEBHOOK_OPENAPI,
        include_in_schema=_path == "/payments/webhook",
    )
