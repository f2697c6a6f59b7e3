from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.deps import ResourcesDep, SessionDep
from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService
from app.payments.effects import PaymentEffects
from app.payments.pricing import PricingService
from app.payments.repository import TransactionRepository, WebhookEventRepository
from app.payments.service import PaymentService


def get_payment_service(session: SessionDep, resources: ResourcesDep) -> PaymentService:
    ledger = CreditLedgerRepository(session)
    transactions = TransactionRepository(session)
    return PaymentService(
        transactions=transactions,
        events=WebhookEventRepository(session),
        effects=PaymentEffects(transactions, CreditsService(ledger), ledger),
        provider=resources.payments,
        verifier=resources.webhook_verifier,
        settings=resources.settings,
    )


PaymentServiceDep = Annotated[PaymentService, Depends(get_payment_service)]


def get_pricing_service(resources: ResourcesDep) -> PricingService:
    # No database session: the price is the provider's, and a public page view takes no
    # connection.
    return PricingService(resources.payments, resources.prices, resources.settings)


PricingServiceDep = Annotated[PricingService, Depends(get_pricing_service)]


def needs_write_session(request: Request) -> None:
    """A GET that may write (reconciliation): ask for a write unit of work."""
    request.state.needs_write = True


NeedsWrite = Depends(needs_write_session)
