"""What a payment event does to our records, the same whether a webhook or a reconciliation
reports it: idempotent per payment, monotonic (a granted payment is never taken back by a late
`failed`), and credits always from our stored transaction, never from the payload.

Grant by what was bought, not by what it cost: Dodo is the merchant of record, so the total a
customer pays includes tax from their address, discounts and purchasing-power prices, in their
own currency. A succeeded payment for our product grants the stored quantity (or the cart's,
when that is lower); what was paid and what settles is recorded, never used to refuse.
"""

from __future__ import annotations

import logging

from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.integrations.payments.payloads import OtherEvent, ProviderEvent, RefundEvent
from app.integrations.payments.port import ProviderPayment
from app.models import CreditReason, PaymentRefund, Transaction, TransactionStatus
from app.payments.repository import TransactionRepository

logger = logging.getLogger(__name__)
OPEN = {TransactionStatus.CREATED, TransactionStatus.PROCESSING}
MAX_NOTE = 255

# Outcomes of a payment we could not tie to one of our transactions (PAY-10). Stored on the
# inbox row, answered 2xx, no effect. The "unknown" ones may match later (a checkout whose
# session id was not stored yet), so a redelivery of the same webhook-id is processed again.
UNMATCHED_NO_REFERENCE = "unmatched_no_reference"
UNMATCHED_UNKNOWN = "unmatched_unknown_transaction"
UNMATCHED_WRONG_OWNER = "unmatched_wrong_owner"
UNMATCHED_OTHER_PRODUCT = "unmatched_other_product"
REPROCESSABLE_OUTCOMES = frozenset({UNMATCHED_NO_REFERENCE, UNMATCHED_UNKNOWN})


class PaymentEffects:
    def __init__(
        self,
        transactions: TransactionRepository,
        credits: CreditsService,
        ledger: CreditLedgerRepository,
    ) -> None:
        self.transactions = transactions
        self.credits = credits
        self.ledger = ledger

    async def apply(self, event: ProviderEvent) -> str:
        """The outcome, recorded on the webhook event for the audit trail."""
        if isinstance(event, OtherEvent):
            return "dispute_recorded" if event.event_type.startswith("dispute.") else "ignored"
        if isinstance(event, RefundEvent):
            if event.event_type != "refund.succeeded":
                return "ignored"
            return await self._refunded(event)
        handlers = {
            "payment.succeeded": self._succeeded,
            "payment.failed": self._closed,
            "payment.cancelled": self._closed,
            "payment.processing": self._processing,
        }
        handler = handlers.get(event.event_type)
        if handler is None:
            return "ignored"
        located = await self._locate(
            event.payment.payment_id,
            event.payment.metadata,
            event.payment.checkout_session_id,
        )
        if isinstance(located, str):
            logger.warning("%s %s: %s", event.event_type, event.payment.payment_id, located)
            return located
        return await handler(located, event.event_type, event.payment)

    async def _locate(
        self, payment_id: str, metadata: dict[str, str], session_id: str | None
    ) -> Transaction | str:
        """Our transaction for a payment, locked, or why there is none (an unmatched outcome).

        By the payment id (a succeeded payment or a recorded attempt), else by our metadata
        (the transaction id, checked against its owner), else by the checkout session. The
        metadata, when present, must name the transaction's owner: a payload cannot move a
        purchase to someone else."""
        found = await self.transactions.get_by_payment(payment_id)
        if found is None:
            by_metadata = await self._by_metadata(metadata)
            if isinstance(by_metadata, str):
                return by_metadata
            by_session = await self.transactions.get_by_session(session_id) if session_id else None
            if by_metadata and by_session and by_metadata.id != by_session.id:
                return UNMATCHED_WRONG_OWNER
            found = by_metadata or by_session
            if found is None:
                has_reference = bool(session_id) or "transaction_id" in metadata
                return UNMATCHED_UNKNOWN if has_reference else UNMATCHED_NO_REFERENCE
        # Lock it: concurrent deliveries about one payment take turns.
        locked = await self.transactions.get_for_update(found.id)
        return locked if locked is not None else UNMATCHED_UNKNOWN

    async def _by_metadata(self, metadata: dict[str, str]) -> Transaction | str | None:
        raw_id, raw_user = metadata.get("transaction_id", ""), metadata.get("user_id", "")
        if not raw_id and not raw_user:
            return None
        if not (raw_id.isdecimal() and raw_id.isascii() and len(raw_id) <= 18):
            return UNMATCHED_UNKNOWN
        transaction = await self.transactions.get(int(raw_id))
        if transaction is None:
            return UNMATCHED_UNKNOWN
        if str(transaction.user_id) != raw_user:
            return UNMATCHED_WRONG_OWNER
        return transaction

    async def _succeeded(
        self, transaction: Transaction, _event: str, payment: ProviderPayment
    ) -> str:
        if transaction.payment_id and transaction.payment_id != payment.payment_id:
            # A second successful payment for one checkout: the credits were granted once,
            # with the first; the second is for an admin to refund.
            logger.error(
                "payment %s succeeded on transaction %s, already paid by %s",
                payment.payment_id,
                transaction.id,
                transaction.payment_id,
            )
            await self.transactions.record_attempt(transaction.id, payment.payment_id, "paid_twice")
            return "paid_twice"
        bought = _bought(transaction, payment)
        if bought == 0:
            await self.transactions.record_attempt(transaction.id, payment.payment_id, "other")
            return UNMATCHED_OTHER_PRODUCT
        _record_paid(transaction, payment)
        transaction.payment_id = payment.payment_id
        await self.transactions.record_attempt(
            transaction.id, payment.payment_id, str(payment.status)
        )
        if transaction.status == TransactionStatus.REFUNDED or (
            transaction.refunded_minor and transaction.refunded_minor >= transaction.amount_minor
        ):
            # Refunded in full before the success reached us: nothing to grant.
            transaction.status = TransactionStatus.REFUNDED
            return "already_refunded"
        transaction.status = TransactionStatus.SUCCEEDED
        granted = min(transaction.quantity, bought) if bought is not None else transaction.quantity
        change = await self.credits.grant(
            transaction.user_id,
            granted,
            CreditReason.PURCHASE,
            Reference("transaction", transaction.id),
        )
        if not change.applied:
            return "already_granted"
        transaction.credits_added = granted
        if granted < transaction.quantity:
            transaction.note = _note(
                f"cart had {granted} of {transaction.quantity} credits: granted {granted}"
            )
        if bought is None:
            transaction.note = _note("payment named no product_cart: granted the stored quantity")
        if transaction.refunded_minor:
            # A partial refund came first: take its share now that there is something to take.
            await self._take_back(transaction, f"{transaction.id}:at-grant")
        return "granted"

    async def _closed(self, transaction: Transaction, event: str, payment: ProviderPayment) -> str:
        status = "failed" if event == "payment.failed" else "cancelled"
        if transaction.payment_id == payment.payment_id or transaction.status not in (
            OPEN | {TransactionStatus.FAILED, TransactionStatus.CANCELLED}
        ):
            return "late_ignored"  # out of order: never undo a granted payment
        # An attempt, not the end: the customer can retry on the same checkout page, and that
        # attempt (a new payment id) must still grant. The payment id is not pinned.
        await self.transactions.record_attempt(transaction.id, payment.payment_id, status)
        transaction.status = status
        return f"attempt_{status}"

    async def _processing(
        self, transaction: Transaction, _event: str, payment: ProviderPayment
    ) -> str:
        if transaction.status not in (
            OPEN | {TransactionStatus.FAILED, TransactionStatus.CANCELLED}
        ):
            return "late_ignored"
        await self.transactions.record_attempt(transaction.id, payment.payment_id, "processing")
        transaction.status = TransactionStatus.PROCESSING
        return "processing"

    async def _refunded(self, refund: RefundEvent) -> str:
        metadata = refund.metadata
        located = await self._locate(refund.payment_id, metadata, None)
        if isinstance(located, str):
            logger.warning("refund %s: %s", refund.refund_id, located)
            return located
        transaction = located
        if transaction.payment_id and refund.payment_id != transaction.payment_id:
            # A refund of another payment on this checkout (a duplicate one): the payment
            # that bought the credits still stands.
            return "refund_of_other_payment"
        amount = _refunded_amount(transaction, refund)
        if amount is None:
            transaction.note = _note(f"refund {refund.refund_id} in {refund.currency}")
            return "refund_currency_unknown"
        counted = await self.transactions.add_refund(
            PaymentRefund(
                transaction_id=transaction.id,
                refund_id=refund.refund_id,
                amount_minor=amount,
                currency=refund.currency,
            )
        )
        if not counted:
            return "refund_already_applied"
        transaction.refunded_minor += amount
        succeeded = transaction.status == TransactionStatus.SUCCEEDED
        # Before the success reached us, amount_minor is only our list price: trust the
        # provider's is_partial when it says, and compare with what was paid once known.
        full = refund.is_partial is False or (
            (succeeded or refund.is_partial is None)
            and transaction.refunded_minor >= transaction.amount_minor
        )
        if not succeeded:
            # Refunded before (or without) any credit granted: recorded for a late success.
            if full:
                transaction.status = TransactionStatus.REFUNDED
            return "refund_recorded"
        if full:
            transaction.refunded_minor = max(transaction.refunded_minor, transaction.amount_minor)
            transaction.status = TransactionStatus.REFUNDED
        # A partial refund leaves the purchase succeeded, with its refunded total.
        return await self._take_back(transaction, refund.refund_id)

    async def _take_back(self, transaction: Transaction, reference: str) -> str:
        """Take back floor(credits * refunded / paid), less what earlier refunds already took
        (or could not take): a refund paid in parts adds up to the whole, rounding in the
        customer's favour, and the balance never goes below zero."""
        paid = max(transaction.amount_minor, 1)
        refunded = min(transaction.refunded_minor, paid)
        owed_in_total = transaction.credits_added * refunded // paid
        owed = owed_in_total - transaction.credits_taken_back - transaction.refund_shortfall
        if transaction.credits_added == 0 or owed <= 0:
            return "refund_recorded"
        balance = await self.ledger.lock_balance(transaction.user_id)
        taken = min(owed, balance)
        if taken > 0:
            change = await self.credits.debit(
                transaction.user_id,
                taken,
                CreditReason.PAYMENT_REFUND,
                # The ledger's reference column holds 64 characters.
                Reference("refund", reference[:64]),
            )
            if not change.applied:
                return "refund_already_applied"
        transaction.credits_taken_back += taken
        transaction.refund_shortfall += owed - taken
        return "refund_applied" if taken == owed else "refund_partially_applied"


def _refunded_amount(transaction: Transaction, refund: RefundEvent) -> int | None:
    """The refund in the currency the customer paid in; None when it cannot be told."""
    amount = refund.amount_minor
    if amount is None:
        amount = transaction.amount_minor if refund.is_partial is False else 0
    # Before a success reached us the stored currency is only our list price's: the refund's
    # own currency is then taken as the payment's.
    paid_known = transaction.payment_id is not None
    if not (paid_known and refund.currency and refund.currency != transaction.currency):
        return amount
    if refund.currency == transaction.settlement_currency and transaction.settlement_amount_minor:
        # Refunded in what settles: the same share of what was paid.
        return amount * transaction.amount_minor // transaction.settlement_amount_minor
    if refund.is_partial is False:
        return transaction.amount_minor
    return None


def _bought(transaction: Transaction, payment: ProviderPayment) -> int | None:
    """How many of our product the payment bought; None when it does not say."""
    if payment.product_cart is None:
        return None
    return sum(
        item.quantity for item in payment.product_cart if item.product_id == transaction.product_id
    )


def _record_paid(transaction: Transaction, payment: ProviderPayment) -> None:
    transaction.amount_minor = payment.total_amount_minor
    transaction.currency = payment.currency[:3]
    transaction.tax_minor = payment.tax_minor
    transaction.settlement_amount_minor = payment.settlement_amount_minor
    transaction.settlement_currency = (payment.settlement_currency or "")[:3] or None
    transaction.discount_id = payment.discount_id


def _note(text: str) -> str:
    return text[:MAX_NOTE]
