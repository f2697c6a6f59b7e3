"""Reconcile open transactions with the provider, for webhooks that never arrived:

    python -m app.payments.reconcile      (make reconcile-payments)

Each transaction is asked about by its checkout session and the same idempotent effect a
webhook would have is applied in a short unit of work of its own; the provider is called with
no transaction open."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime

from app.core.config import get_settings
from app.core.db import Database
from app.core.resources import build_payment_provider
from app.integrations.payments.port import PaymentProvider, PaymentProviderError
from app.payments.repository import TransactionRepository
from app.payments.service import apply_reported_payment

logger = logging.getLogger(__name__)
RECENT = 500


async def reconcile_open_transactions(
    database: Database, provider: PaymentProvider
) -> Counter[str]:
    async with database.unit_of_work(write=False) as session:
        ids = await TransactionRepository(session).open_ids(RECENT, datetime.now(UTC))
    outcomes: Counter[str] = Counter()
    for transaction_id in ids:
        outcomes[await _reconcile_one(database, provider, transaction_id)] += 1
    return outcomes


async def _reconcile_one(database: Database, provider: PaymentProvider, transaction_id: int) -> str:
    async with database.unit_of_work(write=False) as session:
        transaction = await TransactionRepository(session).get(transaction_id)
        session_id = transaction.session_id if transaction is not None else None
    if not session_id:
        return "no_session"
    try:
        payment = await provider.find_payment_for_session(session_id)
    except PaymentProviderError as exc:
        logger.warning("could not ask about transaction %s: %s", transaction_id, exc)
        return "provider_error"
    if payment is None:
        return "not_paid_yet"
    async with database.unit_of_work() as session:
        return await apply_reported_payment(session, payment)


async def _main() -> None:
    settings = get_settings()
    provider = build_payment_provider(settings)
    if provider is None:
        print("payments are not configured: nothing to reconcile")
        return
    database = Database.from_url(settings.DATABASE_URL)
    try:
        outcomes = await reconcile_open_transactions(database, provider)
    finally:
        await database.dispose()
    print("reconciled:", dict(outcomes) or "no open transactions")


if __name__ == "__main__":
    asyncio.run(_main())
