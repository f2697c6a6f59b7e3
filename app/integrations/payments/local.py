"""The embedded payments provider (PAYMENTS_BACKEND=local): a test checkout page on this
server where a person can "pay", after which a correctly signed webhook is posted to our own
endpoint, so the whole purchase flow can be tried offline. It grants real credits for no
money: production refuses it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from app.integrations.payments.port import (
    CartItem,
    CheckoutRequest,
    CheckoutSession,
    PaymentStatus,
    ProviderPayment,
    ProviderProduct,
)
from app.integrations.payments.webhooks import sign

CHECKOUT_PATH = "/api/v1/payments/local-checkout"
WEBHOOK_PATH = "/api/v1/payments/webhook"


def local_webhook_secret(secret_key: str) -> str:
    """A whsec_ secret derived from SECRET_KEY, used when no Dodo secret is configured."""
    digest = hmac.new(secret_key.encode(), b"local-payments-webhooks", hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(digest).decode()


@dataclass
class LocalSession:
    request: CheckoutRequest
    payment: ProviderPayment | None = None


class LocalCheckout:
    def __init__(
        self, public_base_url: str, webhook_secret: str, unit_price_minor: int, currency: str
    ) -> None:
        self.public_base_url = public_base_url.rstrip("/")
        self.webhook_secret = webhook_secret
        self.unit_price_minor = unit_price_minor
        self.currency = currency
        # In memory: a restart forgets unpaid test checkouts, which is fine for a test page.
        self.sessions: dict[str, LocalSession] = {}

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        session_id = f"lcs_{secrets.token_urlsafe(12)}"
        self.sessions[session_id] = LocalSession(request)
        return CheckoutSession(session_id, f"{self.public_base_url}{CHECKOUT_PATH}/{session_id}")

    async def get_payment(self, payment_id: str) -> ProviderPayment | None:
        for session in self.sessions.values():
            if session.payment is not None and session.payment.payment_id == payment_id:
                return session.payment
        return None

    async def find_payment_for_session(self, session_id: str) -> ProviderPayment | None:
        session = self.sessions.get(session_id)
        return session.payment if session else None

    async def get_product(self, product_id: str) -> ProviderProduct:
        # The test page charges exactly quantity x price: no tax is added on top.
        return ProviderProduct(
            product_id=product_id,
            price_minor=self.unit_price_minor,
            currency=self.currency,
            tax_inclusive=True,
        )

    def session(self, session_id: str) -> LocalSession | None:
        return self.sessions.get(session_id)

    async def pay(self, session_id: str, *, succeed: bool = True) -> ProviderPayment:
        """Complete the session and deliver its signed webhook to our own endpoint."""
        session = self.sessions[session_id]
        if session.payment is None:
            session.payment = ProviderPayment(
                payment_id=f"lpay_{secrets.token_urlsafe(12)}",
                status=PaymentStatus.SUCCEEDED if succeed else PaymentStatus.CANCELLED,
                provider_status="succeeded" if succeed else "cancelled",
                total_amount_minor=self.unit_price_minor * session.request.quantity,
                currency=self.currency,
                metadata=dict(session.request.metadata),
                checkout_session_id=session_id,
                tax_minor=0,
                settlement_amount_minor=self.unit_price_minor * session.request.quantity,
                settlement_currency=self.currency,
                product_cart=(CartItem(session.request.product_id, session.request.quantity),),
            )
        await self._deliver(session.payment)
        return session.payment

    async def _deliver(self, payment: ProviderPayment) -> None:
        body = json.dumps(
            {
                "business_id": "local",
                "type": f"payment.{payment.status}",
                "timestamp": datetime.now(UTC).isoformat(),
                "data": {
                    "payload_type": "Payment",
                    "payment_id": payment.payment_id,
                    "status": str(payment.status),
                    "total_amount": payment.total_amount_minor,
                    "currency": payment.currency,
                    "metadata": payment.metadata,
                    "checkout_session_id": payment.checkout_session_id,
                    "tax": payment.tax_minor,
                    "settlement_amount": payment.settlement_amount_minor,
                    "settlement_currency": payment.settlement_currency,
                    "product_cart": [
                        {"product_id": item.product_id, "quantity": item.quantity}
                        for item in payment.product_cart or ()
                    ],
                },
            },
            separators=(",", ":"),
        ).encode()
        webhook_id = f"msg_{secrets.token_urlsafe(12)}"
        headers = sign(body, webhook_id, int(time.time()), self.webhook_secret)
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(
                f"{self.public_base_url}{WEBHOOK_PATH}",
                content=body,
                headers={**headers, "content-type": "application/json"},
            )
        response.raise_for_status()
