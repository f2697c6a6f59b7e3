"""Payments: the provider port, Dodo's objects read into our types, and webhook signatures.

`DodoPayments` (the SDK adapter) is imported from `app.integrations.payments.dodo` where it is
built: importing the SDK costs about a third of a second, and routes that only verify
webhooks should not pay for it.
"""

from app.integrations.payments.payloads import (
    OtherEvent,
    PaymentEvent,
    ProviderEvent,
    RefundEvent,
    parse_event,
    payment_from_dodo,
)
from app.integrations.payments.port import (
    CartItem,
    CheckoutRequest,
    CheckoutSession,
    InvalidPaymentPayload,
    PaymentProvider,
    PaymentProviderError,
    PaymentStatus,
    ProviderPayment,
    ProviderProduct,
    normalise_status,
)
from app.integrations.payments.webhooks import (
    InvalidWebhookSignature,
    WebhookEnvelope,
    WebhookVerifier,
    decode_secret,
    sign,
)

__all__ = [
    "CartItem",
    "CheckoutRequest",
    "CheckoutSession",
    "InvalidPaymentPayload",
    "InvalidWebhookSignature",
    "OtherEvent",
    "PaymentEvent",
    "PaymentProvider",
    "PaymentProviderError",
    "PaymentStatus",
    "ProviderEvent",
    "ProviderPayment",
    "ProviderProduct",
    "RefundEvent",
    "WebhookEnvelope",
    "WebhookVerifier",
    "decode_secret",
    "normalise_status",
    "parse_event",
    "payment_from_dodo",
    "sign",
]
