"""The price per credit, read from the provider's product: the price lives in one place (the
provider's dashboard) and clients show what the checkout will charge.

Cached in the process: a public page view must not become a provider call, and a provider
outage must not blank the price a client has been showing. One refresh at a time; while the
provider is down the last known price is served, and without one the caller gets a clear 503
(remembered for a little while, so an outage is not hammered by every page view).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.core.config import Settings
from app.integrations.payments.port import (
    PaymentProvider,
    PaymentProviderError,
    ProviderProduct,
)
from app.payments.exceptions import PaymentsNotConfigured, PricingUnavailable
from app.payments.service import LOCAL_PRODUCT

logger = logging.getLogger(__name__)
PRICE_TTL_S = 300.0
# After a failed refresh: how long the stale price (or the 503) stands before asking again.
RETRY_AFTER_FAILURE_S = 30.0


@dataclass(slots=True)
class _Entry:
    product: ProviderProduct | None
    fresh_until: float


class ProductPrices:
    def __init__(
        self,
        *,
        ttl_s: float = PRICE_TTL_S,
        retry_after_failure_s: float = RETRY_AFTER_FAILURE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.retry_after_failure_s = retry_after_failure_s
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._refreshing = asyncio.Lock()

    async def get(self, provider: PaymentProvider, product_id: str) -> ProviderProduct:
        entry = self._entries.get(product_id)
        if entry is None or self._clock() >= entry.fresh_until:
            async with self._refreshing:
                # Whoever waited for the lock finds the answer the first one fetched.
                entry = self._entries.get(product_id)
                if entry is None or self._clock() >= entry.fresh_until:
                    entry = await self._refresh(provider, product_id, entry)
        if entry.product is None:
            wait = max(entry.fresh_until - self._clock(), 1.0)
            raise PricingUnavailable(headers={"Retry-After": str(math.ceil(wait))})
        return entry.product

    async def _refresh(
        self, provider: PaymentProvider, product_id: str, previous: _Entry | None
    ) -> _Entry:
        try:
            product = await provider.get_product(product_id)
        except PaymentProviderError as exc:
            stale = previous.product if previous is not None else None
            logger.warning(
                "could not read the price of %s (%s); %s",
                product_id,
                exc,
                "serving the last known price" if stale else "no price known yet",
            )
            entry = _Entry(stale, self._clock() + self.retry_after_failure_s)
        else:
            entry = _Entry(product, self._clock() + self.ttl_s)
        self._entries[product_id] = entry
        return entry


def credit_product_id(settings: Settings) -> str | None:
    """The product checkouts sell (the same rule as `PaymentService.checkout`)."""
    if settings.DODO_PAYMENTS_PRODUCT_ID:
        return settings.DODO_PAYMENTS_PRODUCT_ID
    return LOCAL_PRODUCT if settings.payments_backend == "local" else None


class PricingService:
    def __init__(
        self, provider: PaymentProvider | None, prices: ProductPrices, settings: Settings
    ) -> None:
        self.provider = provider
        self.prices = prices
        self.product_id = credit_product_id(settings)

    async def current(self) -> ProviderProduct:
        if self.provider is None or not self.product_id:
            raise PaymentsNotConfigured()
        return await self.prices.get(self.provider, self.product_id)
