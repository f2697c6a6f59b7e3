from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.deps import ResourcesDep
from app.auth.dependencies import AccessCredentialsDep, build_session_service, get_current_user
from app.models import User
from app.payments.pricing import PricingService
from app.payments.service import PaymentService


async def get_payment_service(resources: ResourcesDep) -> PaymentService:
    # Its own short units of work, not the request's session: the service calls the
    # provider between them with no transaction open. Async: as a plain `def` every webhook
    # waited for a thread-pool hop to build it.
    return PaymentService(
        units=resources.database.unit_of_work,
        provider=resources.payments,
        verifier=resources.webhook_verifier,
        settings=resources.settings,
    )


PaymentServiceDep = Annotated[PaymentService, Depends(get_payment_service)]


async def get_buyer(
    request: Request, credentials: AccessCredentialsDep, resources: ResourcesDep
) -> User:
    """`CurrentUser`, checked in a short read-only unit of work of its own, so a payments
    route opens no request session that would stay open while the provider is called."""
    async with resources.database.unit_of_work(write=False) as session:
        return await get_current_user(
            request,
            credentials,
            build_session_service(session, resources),
            resources.settings,
            session,
        )


async def get_pricing_service(resources: ResourcesDep) -> PricingService:
    # No database session: the price is the provider's, and a public page view takes no
    # connection.
    return PricingService(resources.payments, resources.prices, resources.settings)


PricingServiceDep = Annotated[PricingService, Depends(get_pricing_service)]


Buyer = Annotated[User, Depends(get_buyer)]
