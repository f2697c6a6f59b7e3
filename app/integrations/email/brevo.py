"""Brevo transactional email over its REST API (external-apis.md §4).

One POST with our own httpx client rather than the SDK: the SDK's parameters changed between
major versions, and a plain base URL points tests and staging at a fake Brevo.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.core.logging import mask_email
from app.integrations.email.port import EmailDeliveryError, OutgoingEmail

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.brevo.com"
_SEND_PATH = "/v3/smtp/email"
_MAX_ERROR_TEXT = 300


class BrevoSender:
    def __init__(
        self,
        api_key: str,
        *,
        sender_email: str,
        sender_name: str,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not api_key.strip():
            raise ValueError("a Brevo API key is required to send email through Brevo")
        self._api_key = api_key
        self._sender = {"name": sender_name, "email": sender_email}
        # The SDKs' host setting ends in /v3; accept an operator copying that value.
        self._url = base_url.rstrip("/").removesuffix("/v3") + _SEND_PATH
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def _payload(self, message: OutgoingEmail) -> dict[str, Any]:
        recipient = {"email": message.to_email}
        if message.to_name.strip():
            recipient["name"] = message.to_name
        return {
            "sender": self._sender,
            "to": [recipient],
            "subject": message.subject,
            "htmlContent": message.html,
            "textContent": message.text,
        }

    async def send(self, message: OutgoingEmail) -> None:
        headers = {"api-key": self._api_key, "accept": "application/json"}
        try:
            response = await self._client.post(
                self._url, json=self._payload(message), headers=headers, timeout=self._timeout
            )
        except httpx.UnsupportedProtocol as exc:
            raise EmailDeliveryError(f"Brevo base URL is unusable: {exc}", retryable=False) from exc
        except httpx.TransportError as exc:
            # Also a read timeout after Brevo may have accepted the message: retrying can send
            # a code twice, which is better than a user who never gets one.
            raise EmailDeliveryError(
                f"Brevo unreachable: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        if response.is_success:
            logger.info(
                "email to %s, subject %r, accepted by Brevo as %s",
                mask_email(message.to_email),
                message.subject,
                _message_id(response),
            )
            return
        raise self._error(response)

    def _error(self, response: httpx.Response) -> EmailDeliveryError:
        status = response.status_code
        text = f"Brevo answered {status}: {self._describe(response)}"
        if status == httpx.codes.TOO_MANY_REQUESTS:
            return EmailDeliveryError(text, retryable=True, retry_after=retry_after(response))
        retryable = status >= 500 or status == httpx.codes.REQUEST_TIMEOUT
        return EmailDeliveryError(text, retryable=retryable)

    def _describe(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and ("code" in body or "message" in body):
            described = f"{body.get('code', '?')}: {body.get('message', '')}"
        else:
            described = response.text.strip() or response.reason_phrase
        # Brevo does not echo the key, but a proxy or a future error message might.
        return described[:_MAX_ERROR_TEXT].replace(self._api_key, "[redacted]")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait before the next try, from `Retry-After` or Brevo's own reset header.

    Brevo documents `x-sib-ratelimit-reset` (seconds until the window resets); the standard
    `Retry-After` wins when a proxy in front of it sets one.
    """
    standard = response.headers.get("retry-after")
    if standard is not None:
        parsed = _parse_retry_after(standard)
        if parsed is not None:
            return parsed
    return _parse_seconds(response.headers.get("x-sib-ratelimit-reset"))


def _parse_retry_after(value: str) -> float | None:
    seconds = _parse_seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _parse_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _message_id(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "(no message id)"
    if isinstance(body, dict):
        ids = body.get("messageId") or body.get("messageIds")
        if ids:
            return str(ids)
    return "(no message id)"
