"""Buying credits: checkout, the webhook inbox, and reading a transaction (reconciling with the
provider when its webhook has not arrived yet, so the return page shows no false failure).

Every method opens its own short units of work and calls the provider with none open: a
checkout or a reconciliation waiting on Dodo (up to its timeout times retries) holds no database
connection and no write lock meanwhile (issue 9, defect 5)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.types import storable
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService
from app.integrations.payments.payloads import PaymentEvent, parse_event
from app.integrations.payments.port import (
    CheckoutRequest,
    InvalidPaymentPayload,
    PaymentProvider,
    PaymentProviderError,
    ProviderPayment,
)
from app.integrations.payments.webhooks import InvalidWebhookSignature, WebhookVerifier
from app.models import (
    CHECKOUT_SESSION_LIFETIME,
    RETRYABLE_STATUSES,
    SETTLED_STATUSES,
    Transaction,
    TransactionStatus,
    User,
    WebhookEvent,
)
from app.payments.effects import REPROCESSABLE_OUTCOMES, PaymentEffects
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
# What a provider payment id looks like (Dodo `pay_…`, the local checkout `lpay_…`); anything
# else (a NUL byte, "..", a 10 kB string) cannot name one of our transactions.
PAYMENT_ID = re.compile(r"[A-Za-z0-9_\-]{1,128}")
MAX_STORED_ID = 128

UnitOfWork = Callable[..., AbstractAsyncContextManager[AsyncSession]]
Clock = Callable[[], datetime]


def effects_for(session: AsyncSession) -> PaymentEffects:
    ledger = CreditLedgerRepository(session)
    return PaymentEffects(TransactionRepository(session), CreditsService(ledger), ledger)


async def apply_reported_payment(session: AsyncSession, payment: ProviderPayment) -> str:
    """What a payment read from the provider (not from a webhook) does: the same effect its
    webhook would have."""
    return await effects_for(session).apply(
        PaymentEvent(f"payment.{payment.status}", None, payment)
    )


async def reprocess_stored_event(session: AsyncSession, event: WebhookEvent) -> str | None:
    """Apply a stored delivery again, as a redelivery of its webhook-id would (the admin's
    "reprocess"): only one that could not be matched to a transaction yet; the effect is the
    same idempotent one, so a payment already granted grants nothing more. None when the event
    is not one that may be processed again."""
    if event.outcome not in REPROCESSABLE_OUTCOMES:
        return None
    try:
        payload = json.loads(event.payload)
        parsed = parse_event(payload if isinstance(payload, dict) else {})
    except (ValueError, InvalidPaymentPayload):
        event.outcome = "invalid_payload"
        return event.outcome
    event.outcome = await effects_for(session).apply(parsed)
    return event.outcome


def is_settled(transaction: Transaction, now: datetime) -> bool:
    """Nothing the provider says can change it any more (refunds aside): paid, refunded, or
    failed/cancelled with its checkout session expired (no other attempt can come)."""
    if transaction.status in SETTLED_STATUSES:
        return True
    return (
        transaction.status in RETRYABLE_STATUSES
        and transaction.created_at + CHECKOUT_SESSION_LIFETIME <= now
    )


class PaymentService:
    def __init__(
        self,
        *,
        units: UnitOfWork,
        provider: PaymentProvider | None,
        verifier: WebhookVerifier | None,
        settings: Settings,
        clock: Clock | None = None,
    ) -> None:
        self.units = units
        self.provider = provider
        self.verifier = verifier
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))

    async def checkout(self, user: User, quantity: int) -> tuple[str, str]:
        """(session id, checkout URL), in three steps so no transaction is open while Dodo is
        called: the pending row is committed first (its id goes in the metadata, so a webhook
        that outruns the last step still finds it), then the provider is asked, then its
        session id is stored. A failed call deletes the pending row (no orphan, 502)."""
        product_id = self.settings.DODO_PAYMENTS_PRODUCT_ID or (
            LOCAL_PRODUCT if self.settings.payments_backend == "local" else None
        )
        if self.provider is None or not product_id:
            raise PaymentsNotConfigured()
        async with self.units() as session:
            transaction = await TransactionRepository(session).add(
                Transaction(
                    user_id=user.id,
                    product_id=product_id,
                    quantity=quantity,
                    # The local list price, shown until a payment says what was paid.
                    amount_minor=quantity * self.settings.CREDIT_PRICE_MINOR,
                    currency=self.settings.PAYMENT_CURRENCY.upper(),
                    status=TransactionStatus.CREATED,
                )
            )
            transaction_id = transaction.id
        try:
            created = await self.provider.create_checkout(
                CheckoutRequest(
                    product_id=product_id,
                    quantity=quantity,
                    customer_email=user.email,
                    customer_name=user.name,
                    metadata={"user_id": str(user.id), "transaction_id": str(transaction_id)},
                    return_url=self.settings.payment_return_url,
                )
            )
        except PaymentProviderError as exc:
            logger.warning("checkout failed at the provider: %s", exc)
            await self._forget(transaction_id)
            raise PaymentProviderFailed() from None
        async with self.units() as session:
            await TransactionRepository(session).set_session(transaction_id, created.session_id)
        return created.session_id, created.checkout_url

    async def _forget(self, transaction_id: int) -> None:
        # If even this fails (the database went away), the row stays `created` with no
        # session: no credits, nothing to pay, and reconciliation skips it ("no_session").
        try:
            async with self.units() as session:
                await TransactionRepository(session).delete_unpaid(transaction_id)
        except Exception:
            logger.exception("could not delete the unopened checkout %s", transaction_id)

    async def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Verify over the raw bytes, keep the event once per webhook-id, apply its effect in
        the same unit of work. No outbound call: the provider gets its 2xx fast. A delivery
        whose first processing could not match it to a transaction is processed again when
        the same webhook-id comes back (a manual resend); every other duplicate is a no-op."""
        if self.verifier is None:
            raise PaymentsNotConfigured()
        try:
            envelope = self.verifier.verify(body, headers)
        except InvalidWebhookSignature:
            raise InvalidSignature() from None
        payload = envelope.payload
        raw_type = payload.get("type")
        event_type = _clean(raw_type if isinstance(raw_type, str) else "unknown", 64)
        data = payload.get("data")
        raw_payment = data.get("payment_id") if isinstance(data, dict) else None
        async with self.units() as session:
            events = WebhookEventRepository(session)
            event = WebhookEvent(
                webhook_id=envelope.webhook_id,
                event_type=event_type or "unknown",
                payment_id=_clean(raw_payment, MAX_STORED_ID) if raw_payment else None,
                # Text columns refuse NUL on PostgreSQL; JSON can carry one as \u0000, which
                # the raw bytes keep escaped, so only a literal NUL (not JSON) is replaced.
                payload=body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
            )
            if not await events.record(event):
                seen = await events.get_by_webhook_id(envelope.webhook_id)
                if seen is None or seen.outcome not in REPROCESSABLE_OUTCOMES:
                    return "duplicate"
                event = seen
            if not storable(payload):
                # Signed, so not an attacker's, but its values fit no column (NUL, a lone
                # surrogate, an integer past int64): a 4xx or 500 would be retried forever.
                logger.error("webhook %s holds values we cannot store", envelope.webhook_id)
                event.outcome = "invalid_payload"
                return event.outcome
            try:
                parsed = parse_event(payload)
            except InvalidPaymentPayload as exc:
                # Signed by the provider but not the documented shape: retrying cannot help.
                logger.error("webhook %s unreadable: %s", envelope.webhook_id, exc)
                event.outcome = "invalid_payload"
                return event.outcome
            event.outcome = await effects_for(session).apply(parsed)
            return event.outcome

    async def transaction(self, user: User, payment_id: str) -> Transaction:
        if not PAYMENT_ID.fullmatch(payment_id):
            raise TransactionNotFound()
        async with self.units(write=False) as session:
            transaction = await TransactionRepository(session).get_by_payment(payment_id)
        if transaction is not None and transaction.user_id != user.id:
            raise TransactionNotFound()
        if transaction is not None and is_settled(transaction, self.clock()):
            return transaction
        reconciled = await self._reconcile(user, payment_id)
        if reconciled is not None:
            return reconciled
        if transaction is None:
            raise TransactionNotFound()
        return transaction

    async def list(self, user: User) -> list[Transaction]:
        async with self.units(write=False) as session:
            return await TransactionRepository(session).list_for_owner(user.id, MAX_LISTED)

    async def _reconcile(self, user: User, payment_id: str) -> Transaction | None:
        """Ask the provider about a payment whose webhook has not arrived (outside any unit of
        work), then apply the same idempotent effect the webhook would have."""
        if self.provider is None:
            return None
        try:
            payment = await self.provider.get_payment(payment_id)
        except PaymentProviderError as exc:
            logger.warning("reconciliation of %s failed: %s", payment_id, exc)
            return None
        if payment is None or payment.metadata.get("user_id") != str(user.id):
            return None
        async with self.units() as session:
            outcome = await apply_reported_payment(session, payment)
            logger.info("reconciled payment %s: %s", payment_id, outcome)
            found = await TransactionRepository(session).get_by_payment(payment_id)
        return found if found is not None and found.user_id == user.id else None


def _clean(value: object, limit: int) -> str:
    """A payload string fit for a String(limit) column: printable, cut to length."""
    text = value if isinstance(value, str) else str(value)
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)[:limit]
