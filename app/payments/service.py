"""Buying credits: checkout, the webhook inbox, and reading a transaction (reconciling with the
provider when its webhook has not arrived yet, so the return page shows no false failure)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from app.core.config import Settings
from app.core.types import storable
from app.integrations.payments.port import (
    CheckoutRequest,
    PaymentProvider,
    PaymentProviderError,
)
from app.integrations.payments.webhooks import InvalidWebhookSignature, WebhookVerifier
from app.models import FINAL_STATUSES, Transaction, TransactionStatus, User, WebhookEvent
from app.payments.effects import PaymentEffects
from app.payments.exceptions import (
    InvalidSignature,
    PaymentProviderFailed,
    PaymentsNotConfigured,
    TransactionNotFound,
)
from app.payments.repository import TransactionRepository, WebhookEventRepository

logger = logging.getLogger(__name__)
MAX_LISTED = 100
LOCAL_PRODUCT = "local-credit"


class PaymentService:
    def __init__(
        self,
        *,
        transactions: TransactionRepository,
        events: WebhookEventRepository,
        effects: PaymentEffects,
        provider: PaymentProvider | None,
        verifier: WebhookVerifier | None,
        settings: Settings,
    ) -> None:
        self.transactions = transactions
        self.events = events
        self.effects = effects
        self.provider = provider
        self.verifier = verifier
        self.settings = settings

    async def checkout(self, user: User, quantity: int) -> tuple[str, str]:
        """(session id, checkout URL). The transaction row is written first, in this unit of
        work: if the provider call fails the whole request rolls back, leaving no orphan."""
        product_id = self.settings.DODO_PAYMENTS_PRODUCT_ID or (
            LOCAL_PRODUCT if self.settings.payments_backend == "local" else None
        )
        if self.provider is None or not product_id:
            raise PaymentsNotConfigured()
        transaction = await self.transactions.add(
            Transaction(
                user_id=user.id,
                product_id=product_id,
                quantity=quantity,
                amount_minor=quantity * self.settings.CREDIT_PRICE_MINOR,
                currency=self.settings.PAYMENT_CURRENCY,
                status=TransactionStatus.CREATED,
            )
        )
        try:
            session = await self.provider.create_checkout(
                CheckoutRequest(
                    product_id=transaction.product_id,
                    quantity=quantity,
                    customer_email=user.email,
                    customer_name=user.name,
                    metadata={"user_id": str(user.id), "transaction_id": str(transaction.id)},
                    return_url=self.settings.payment_return_url,
                )
            )
        except PaymentProviderError as exc:
            logger.warning("checkout failed at the provider: %s", exc)
            raise PaymentProviderFailed() from None
        transaction.session_id = session.session_id
        return session.session_id, session.checkout_url

    async def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Verify over the raw bytes, keep the event once per webhook-id, apply its effect in
        this same transaction. No outbound call: the provider gets its 2xx fast."""
        if self.verifier is None:
            raise PaymentsNotConfigured()
        try:
            envelope = self.verifier.verify(body, headers)
        except InvalidWebhookSignature:
            raise InvalidSignature() from None
        payload = envelope.payload
        if not storable(payload):
            # Signed, so not an attacker's; but no column can hold it. A 4xx or 500 would be
            # retried forever: acknowledge it, keep nothing, and say so in the log.
            logger.warning("webhook %r ignored: its content cannot be stored", envelope.webhook_id)
            return "unstorable"
        event_type = str(payload.get("type") or "unknown")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        assert isinstance(data, dict)
        event = WebhookEvent(
            webhook_id=envelope.webhook_id,
            event_type=event_type[:64],
            payment_id=str(data.get("payment_id"))[:128] if data.get("payment_id") else None,
            payload=body.decode("utf-8", errors="replace"),
        )
        if not await self.events.record(event):
            return "duplicate"
        event.outcome = await self.effects.apply(event_type, data)
        return event.outcome

    async def transaction(self, user: User, payment_id: str) -> Transaction:
        transaction = await self.transactions.get_by_payment(payment_id)
        if transaction is not None and transaction.user_id != user.id:
            raise TransactionNotFound()
        if transaction is not None and transaction.status in FINAL_STATUSES:
            return transaction
        reconciled = await self._reconcile(user, payment_id)
        if reconciled is None:
            if transaction is None:
                raise TransactionNotFound()
            return transaction
        return reconciled

    async def list(self, user: User) -> list[Transaction]:
        return await self.transactions.list_for_owner(user.id, MAX_LISTED)

    async def _reconcile(self, user: User, payment_id: str) -> Transaction | None:
        """Ask the provider about a payment whose webhook has not arrived, and apply the same
        idempotent effect the webhook would have."""
        if self.provider is None:
            return None
        try:
            payment = await self.provider.get_payment(payment_id)
        except PaymentProviderError as exc:
            logger.warning("reconciliation of %s failed: %s", payment_id, exc)
            return None
        if payment is None or payment.metadata.get("user_id") != str(user.id):
            return None
        data = {
            "payment_id": payment.payment_id,
            "status": payment.status,
            "total_amount": payment.total_amount_minor,
            "currency": payment.currency,
            "metadata": dict(payment.metadata),
            "checkout_session_id": payment.checkout_session_id,
        }
        event_type = f"payment.{payment.status}"
        outcome = await self.effects.apply(event_type, data)
        logger.info("reconciled payment %s: %s", payment_id, outcome)
        found = await self.transactions.get_by_payment(payment_id)
        if found is None:
            raw = payment.metadata.get("transaction_id", "")
            found = await self.transactions.get(int(raw)) if raw.isdigit() else None
        return found if found is not None and found.user_id == user.id else None
