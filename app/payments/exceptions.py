from __future__ import annotations

from app.core.errors import AppError


class PaymentsNotConfigured(AppError):
    status_code = 503
    code = "PAYMENTS_NOT_CONFIGURED"
    message = "Payments are not configured on this server."


class PaymentProviderFailed(AppError):
    status_code = 502
    code = "PAYMENT_PROVIDER_ERROR"
    message = "The payment provider could not be reached; nothing was charged. Try again."


class InvalidSignature(AppError):
    status_code = 401
    code = "INVALID_SIGNATURE"
    message = "The webhook signature is invalid."


class TransactionNotFound(AppError):
    status_code = 404
    code = "TRANSACTION_NOT_FOUND"
    message = "No such transaction."


class PricingUnavailable(AppError):
    status_code = 503
    code = "PRICING_UNAVAILABLE"
    message = "The price could not be read from the payment provider; try again shortly."
