"""What a payment event does to our records, the same whether a webhook or a reconciliation
reports it: idempotent per payment, monotonic (a granted payment is never taken back by a late
`failed`), and credits always from our stored transaction, never from the payload."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.models import CreditReason, Transaction, TransactionStatus
from app.payments.repository import TransactionRepository

logger = logging.getLogger(__name__)
OPEN = {TransactionStatus.CREATED, TransactionStatus.PROCESSING}


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

    async def apply(self, event_type: str, data: Mapping[str, Any]) -> str:
        """The outcome, recorded on the webhook event for the audit trail."""
        if event_type.startswith("dispute."):
            return "dispute_recorded"
        handlers = {
            "payment.succeeded": self._succeeded,
            "payment.failed": self._closed,
            "payment.cancelled": self._closed,
            "payment.processing": self._processing,
            "refund.succeeded": self._refunded,
        }
        handler = handlers.get(event_type)
        if handler is None:
            return "ignored"
        transaction = await self._locate(data)
        if transaction is None:
            logger.warning("%s for an unknown transaction", event_type)
            return "unknown_transaction"
        return await handler(transaction, event_type, data)

    async def _locate(self, data: Mapping[str, Any]) -> Transaction | None:
        payment_id = str(data.get("payment_id") or "")
        found = await self.transactions.get_by_payment(payment_id) if payment_id else None
        if found is None:
            found = await self._by_metadata(data.get("metadata"))
        if found is None:
            return None
        # Lock it: concurrent deliveries about one payment take turns.
        return await self.transactions.get_for_update(found.id)

    async def _by_metadata(self, metadata: object) -> Transaction | None:
        if not isinstance(metadata, Mapping):
            return None
        raw_id, raw_user = str(metadata.get("transaction_id", "")), str(metadata.get("user_id", ""))
        if not (raw_id.isdigit() and raw_user.isdigit()):
            return None
        transaction = await self.transactions.get(int(raw_id))
        if transaction is None or transaction.user_id != int(raw_user):
            return None
        return transaction

    async def _succeeded(
        self, transaction: Transaction, _event: str, data: Mapping[str, Any]
    ) -> str:
        payment_id = str(data.get("payment_id") or "")
        if transaction.payment_id and payment_id and transaction.payment_id != payment_id:
            return "payment_mismatch"
        if transaction.status == TransactionStatus.REFUNDED:
            return "already_refunded"
        amount, currency = data.get("total_amount"), str(data.get("currency") or "")
        if amount != transaction.amount_minor or currency.upper() != transaction.currency:
            transaction.note = f"paid {amount} {currency}, expected {transaction.amount_minor}"
            logger.error("payment %s amount mismatch on transaction %s", payment_id, transaction.id)
            return "amount_mismatch"
        transaction.payment_id = transaction.payment_id or payment_id or None
        transaction.status = TransactionStatus.SUCCEEDED
        change = await self.credits.grant(
            transaction.user_id,
            transaction.quantity,
            CreditReason.PURCHASE,
            Reference("transaction", transaction.id),
        )
        if change.applied:
            transaction.credits_added = transaction.quantity
            return "granted"
        return "already_granted"

    async def _closed(self, transaction: Transaction, event: str, data: Mapping[str, Any]) -> str:
        if transaction.status not in OPEN:
            return "late_ignored"  # out of order: never undo a granted payment
        transaction.payment_id = transaction.payment_id or str(data.get("payment_id") or "") or None
        transaction.status = (
            TransactionStatus.FAILED if event == "payment.failed" else TransactionStatus.CANCELLED
        )
        return transaction.status

    async def _processing(
        self, transaction: Transaction, _event: str, data: Mapping[str, Any]
    ) -> str:
        if transaction.status != TransactionStatus.CREATED:
            return "late_ignored"
        transaction.payment_id = transaction.payment_id or str(data.get("payment_id") or "") or None
        transaction.status = TransactionStatus.PROCESSING
        return "processing"

    async def _refunded(
        self, transaction: Transaction, _event: str, data: Mapping[str, Any]
    ) -> str:
        refund_id = str(data.get("refund_id") or data.get("payment_id") or transaction.id)
        owed = _credits_for(transaction, data.get("amount"))
        transaction.status = TransactionStatus.REFUNDED
        if transaction.credits_added == 0 or owed == 0:
            return "refund_recorded"  # refunded before (or without) any credit granted
        balance = await self.ledger.lock_balance(transaction.user_id)
        taken = min(owed, balance)
        if taken > 0:
            change = await self.credits.debit(
                transaction.user_id,
                taken,
                CreditReason.PAYMENT_REFUND,
                Reference("refund", refund_id),
            )
            if not change.applied:
                return "refund_already_applied"
        transaction.credits_taken_back += taken
        transaction.refund_shortfall += owed - taken
        return "refund_applied" if taken == owed else "refund_partially_applied"


def _credits_for(transaction: Transaction, refunded_minor: object) -> int:
    """Credits a refund of `refunded_minor` takes back: all of them for a full refund, a
    proportional share (rounded down, in the customer's favour) for a partial one."""
    remaining = transaction.credits_added - transaction.credits_taken_back
    if not isinstance(refunded_minor, int) or refunded_minor >= transaction.amount_minor:
        return max(remaining, 0)
    share = transaction.quantity * refunded_minor // max(transaction.amount_minor, 1)
    return max(min(share, remaining), 0)
