"""The payments port: what the payments domain asks of whichever provider the settings chose.

Shaped after Dodo Payments' hosted checkout (external-apis.md §2): we open a checkout session
for a product and quantity, the customer pays on the provider's page, and the truth about the
money comes back as a payment object, read from a verified webhook or fetched by id. Amounts
are integers in the currency's minor unit, as the provider sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class PaymentStatus(StrEnum):
    """A payment's state, normalised from the provider's string.

    The provider adds states over time, so anything we do not know becomes UNKNOWN (and the
    original string stays on `ProviderPayment.provider_status`) instead of crashing a webhook.
    """

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PROCESSING = "processing"
    REQUIRES_CUSTOMER_ACTION = "requires_customer_action"
    REQUIRES_MERCHANT_ACTION = "requires_merchant_action"
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_CAPTURE = "requires_capture"
    PARTIALLY_CAPTURED = "partially_captured"
    PARTIALLY_CAPTURED_AND_CAPTURABLE = "partially_captured_and_capturable"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        """Whether the payment can no longer change on its own (refunds aside)."""
        return self in _FINAL


_FINAL = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELLED})
# Dodo spells it the British way; accept the American spelling should a proxy or a future API
# version use it, rather than leave a cancelled payment looking unknown.
_ALIASES = {"canceled": PaymentStatus.CANCELLED}


def normalise_status(raw: str | None) -> PaymentStatus:
    if raw is None:
        return PaymentStatus.UNKNOWN
    key = raw.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        return PaymentStatus(key)
    except ValueError:
        return PaymentStatus.UNKNOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutRequest:
    """One hosted checkout for `quantity` units of one product.

    `metadata` travels with the payment and comes back in every webhook about it; keep it to
    our own ids (user, transaction), never anything the customer could use to set a price.
    """

    product_id: str
    quantity: int
    customer_email: str
    customer_name: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    return_url: str | None = None
    cancel_url: str | None = None

    def __post_init__(self) -> None:
        if not self.product_id.strip():
            raise ValueError("a checkout needs a product id")
        if self.quantity < 1:
            raise ValueError("a checkout needs a quantity of at least 1")
        if not self.customer_email.strip():
            raise ValueError("a checkout needs the customer's email")


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    session_id: str
    # The provider's hosted page, prefilled with the customer's email and name for whoever
    # opens it: kept out of repr() and so out of log lines that format the session.
    checkout_url: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class CartItem:
    """One line of what the customer bought: a product and how many of it."""

    product_id: str
    quantity: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderPayment:
    """A payment as the provider reports it; the domain decides what it is worth to us."""

    payment_id: str
    status: PaymentStatus
    # The provider's own string, kept for records and for statuses we map to UNKNOWN.
    provider_status: str | None
    total_amount_minor: int
    currency: str
    metadata: dict[str, str] = field(default_factory=dict)
    checkout_session_id: str | None = None
    # What was paid and what settles (Dodo is the merchant of record: it adds tax, applies
    # discounts and purchasing-power prices, and may charge in the customer's currency).
    # Recorded, never used to decide what a payment is worth in credits.
    tax_minor: int | None = None
    settlement_amount_minor: int | None = None
    settlement_currency: str | None = None
    discount_id: str | None = None
    # What was bought; None when the provider did not say (the field is optional at Dodo).
    product_cart: tuple[CartItem, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderProduct:
    """A product's one-time price as the provider's dashboard sets it: the one source of the
    price per credit. `price_minor` is before tax (added at checkout from the buyer's address
    unless `tax_inclusive`) and before any discount code."""

    product_id: str
    price_minor: int
    currency: str
    tax_inclusive: bool


class PaymentProviderError(Exception):
    """A provider call that did not give an answer we can use.

    `retryable` says whether the same call can succeed later (timeouts, outages, rate limits)
    or cannot (bad credentials, rejected input, an answer we cannot read). `status_code` is
    the provider's HTTP status when it answered at all; `retry_after` its own hint in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default pickling of exceptions, and job
        # brokers pickle them across processes.
        return (_rebuild_error, (self.message, self.retryable, self.status_code, self.retry_after))


def _rebuild_error(
    message: str, retryable: bool, status_code: int | None, retry_after: float | None
) -> PaymentProviderError:
    return PaymentProviderError(
        message, retryable=retryable, status_code=status_code, retry_after=retry_after
    )


class InvalidPaymentPayload(PaymentProviderError):
    """A provider answer or webhook body that does not have the documented shape."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)

    def __reduce__(self) -> tuple[object, ...]:
        return (InvalidPaymentPayload, (self.message,))


class PaymentProvider(Protocol):
    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """Open a hosted checkout, or raise `PaymentProviderError`.

        Not idempotent at the provider: a retried call may open a second session. That is
        harmless (an unpaid session expires), but only the returned one should be stored.
        """
        ...

    async def get_payment(self, payment_id: str) -> ProviderPayment | None:
        """The payment's current state; None when the provider does not know the id."""
        ...

    async def find_payment_for_session(self, session_id: str) -> ProviderPayment | None:
        """The payment a checkout session produced; None while the customer has not paid yet
        (or the session is unknown)."""
        ...

    async def get_product(self, product_id: str) -> ProviderProduct:
        """The product's current price, or `PaymentProviderError` (404 when it is unknown,
        `InvalidPaymentPayload` when it is not a one-time price)."""
        ...
