"""Dodo Payments through its SDK's async client (external-apis.md §2).

Built once in the lifespan and closed there. The SDK's types stay in this module: callers get
the port's dataclasses, and every SDK failure becomes a `PaymentProviderError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Mapping
from typing import Literal, TypeVar

import httpx
from dodopayments import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncDodoPayments,
    BaseModel,
    DodoPaymentsError,
    omit,
)
from dodopayments.types import NewCustomerParam, ProductItemReqParam

from app.integrations.payments.payloads import payment_from_dodo
from app.integrations.payments.port import (
    CheckoutRequest,
    CheckoutSession,
    InvalidPaymentPayload,
    PaymentProviderError,
    ProviderPayment,
    ProviderProduct,
)
from app.integrations.payments.products import product_from_dodo

DodoMode = Literal["test_mode", "live_mode"]
_T = TypeVar("_T")
_CONNECT_TIMEOUT_S = 5.0
_MAX_ERROR_TEXT = 300
# The SDK's own retry rule (external-apis §2.1): these can succeed on a later try.
_RETRYABLE_STATUS = frozenset({408, 409, 429})
_NOT_FOUND = 404
# Dodo ids are a prefix and letters/digits (`pay_...`, `cks_...`). The ids we look up can come
# from a client's URL, and "..", "?" or "/" must not steer our authenticated request elsewhere.
_PROVIDER_ID = re.compile(r"[A-Za-z0-9_\-]{1,128}")


class DodoPayments:
    def __init__(
        self,
        api_key: str,
        *,
        mode: DodoMode,
        base_url: str | None = None,
        timeout: float = 20.0,
        max_retries: int = 2,
    ) -> None:
        if not api_key.strip():
            # The SDK would happily send "Bearer " and fail on the first checkout instead.
            raise ValueError("a Dodo Payments API key is required")
        if mode not in ("test_mode", "live_mode"):
            raise ValueError(f"unknown Dodo Payments mode: {mode!r}")
        self._api_key = api_key
        self.mode: DodoMode = mode
        http_timeout = httpx.Timeout(timeout, connect=min(timeout, _CONNECT_TIMEOUT_S))
        if base_url:
            # An explicit URL (a fake, a proxy) decides alone: with `environment` also given
            # the SDK would still pick one of the two, and the reader could not tell which.
            self._client = AsyncDodoPayments(
                bearer_token=api_key,
                base_url=base_url,
                timeout=http_timeout,
                max_retries=max_retries,
            )
        else:
            # `base_url=None` stops the SDK from reading DODO_PAYMENTS_BASE_URL from the
            # process environment ("Ambiguous URL"); without `environment` it defaults to LIVE.
            self._client = AsyncDodoPayments(
                bearer_token=api_key,
                environment=mode,
                base_url=None,
                timeout=http_timeout,
                max_retries=max_retries,
            )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    async def aclose(self) -> None:
        await self._client.close()

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        cart: list[ProductItemReqParam] = [
            {"product_id": request.product_id, "quantity": request.quantity}
        ]
        customer: NewCustomerParam = {"email": request.customer_email}
        if request.customer_name and request.customer_name.strip():
            customer["name"] = request.customer_name
        created = await self._call(
            "create a checkout session",
            self._client.checkout_sessions.create(
                product_cart=cart,
                customer=customer,
                metadata=dict(request.metadata),
                return_url=request.return_url if request.return_url is not None else omit,
                cancel_url=request.cancel_url if request.cancel_url is not None else omit,
            ),
        )
        data = _as_mapping(created)
        session_id, checkout_url = data.get("session_id"), data.get("checkout_url")
        if not isinstance(session_id, str) or not session_id:
            raise InvalidPaymentPayload("checkout answer has no session_id")
        if not isinstance(checkout_url, str) or not checkout_url:
            raise InvalidPaymentPayload("checkout answer has no checkout_url")
        return CheckoutSession(session_id, checkout_url)

    async def get_payment(self, payment_id: str) -> ProviderPayment | None:
        if not _PROVIDER_ID.fullmatch(payment_id):
            return None
        try:
            payment = await self._call("read a payment", self._client.payments.retrieve(payment_id))
        except PaymentProviderError as exc:
            if exc.status_code == _NOT_FOUND:
                return None
            raise
        return payment_from_dodo(_as_mapping(payment))

    async def find_payment_for_session(self, session_id: str) -> ProviderPayment | None:
        if not _PROVIDER_ID.fullmatch(session_id):
            return None
        try:
            session = await self._call(
                "read a checkout session", self._client.checkout_sessions.retrieve(session_id)
            )
        except PaymentProviderError as exc:
            if exc.status_code == _NOT_FOUND:
                return None
            raise
        payment_id = _as_mapping(session).get("payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            # The customer is still on the checkout page (or left it): nothing to reconcile.
            return None
        return await self.get_payment(payment_id)

    async def get_product(self, product_id: str) -> ProviderProduct:
        if not _PROVIDER_ID.fullmatch(product_id):
            # Our own setting, but still never a path of its own in an authenticated URL.
            raise InvalidPaymentPayload("DODO_PAYMENTS_PRODUCT_ID is not a Dodo product id")
        product = await self._call("read a product", self._client.products.retrieve(product_id))
        return product_from_dodo(_as_mapping(product))

    async def _call(self, action: str, pending: Awaitable[_T]) -> _T:
        try:
            return await pending
        except DodoPaymentsError as exc:
            raise self._error(action, exc) from exc
        except ValueError as exc:
            # A 2xx whose body claims JSON but is not (a proxy's error page, a cut-off body):
            # the SDK lets the decoder's error escape.
            raise InvalidPaymentPayload(f"Dodo answer to {action} is not JSON: {exc}") from exc

    def _error(self, action: str, exc: DodoPaymentsError) -> PaymentProviderError:
        if isinstance(exc, APITimeoutError):
            # Also a create that Dodo may have done: retrying opens a second session, which
            # is harmless (see the port).
            return PaymentProviderError(f"Dodo timed out trying to {action}", retryable=True)
        if isinstance(exc, APIConnectionError):
            return PaymentProviderError(f"Dodo unreachable trying to {action}", retryable=True)
        if isinstance(exc, APIStatusError):
            status = exc.status_code
            return PaymentProviderError(
                f"Dodo answered {status} trying to {action}: {self._describe(exc.body)}",
                retryable=status >= 500 or status in _RETRYABLE_STATUS,
                status_code=status,
                retry_after=_retry_after(exc.response.headers),
            )
        return PaymentProviderError(
            f"Dodo call failed trying to {action}: {type(exc).__name__}", retryable=False
        )

    def _describe(self, body: object) -> str:
        if isinstance(body, Mapping) and ("code" in body or "message" in body):
            described = f"{body.get('code', '?')}: {body.get('message', '')}"
        else:
            described = str(body) if body is not None else "(no body)"
        # Dodo does not echo the key, but a proxy or a future error message might.
        return described[:_MAX_ERROR_TEXT].replace(self._api_key, "[redacted]")


def _as_mapping(answer: object) -> Mapping[str, object]:
    # The SDK parses leniently: a 2xx with a non-JSON content type comes back as a str, and
    # missing fields are simply absent from the model. Read it as plain JSON data instead.
    if isinstance(answer, BaseModel):
        return answer.to_dict(mode="json", warnings=False)
    raise InvalidPaymentPayload(f"Dodo answered with {type(answer).__name__}, not a JSON object")


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
