"""Sending after commit: retry what can succeed later, log what cannot, never raise.

Callers run this once the request's transaction has committed; a lost email is recoverable
(the user asks for a new code), a request failed by the mail provider after its data was
saved is not.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from app.core.logging import mask_email
from app.integrations.email.port import EmailDeliveryError, EmailSender, OutgoingEmail

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


async def deliver_with_retries(
    sender: EmailSender,
    message: OutgoingEmail,
    *,
    attempts: int = 3,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
    sleep: Sleep = asyncio.sleep,
) -> bool:
    """Send `message`, retrying retryable failures with exponential backoff.

    Returns whether the message was handed over. `max_delay` caps every wait, including a
    provider's `retry_after`: a quota reset an hour away is not worth holding a task for.
    """
    attempts = max(1, attempts)
    for attempt in range(1, attempts + 1):
        try:
            await sender.send(message)
        except EmailDeliveryError as exc:
            if not exc.retryable or attempt == attempts:
                _log_gave_up(message, exc, attempt)
                return False
            delay = _backoff(attempt, base_delay, max_delay, exc.retry_after)
            logger.warning(
                "email to %s, subject %r, attempt %d/%d failed (%s); retrying in %.2fs",
                mask_email(message.to_email),
                message.subject,
                attempt,
                attempts,
                exc,
                delay,
            )
            await sleep(delay)
        except Exception:
            # A bug in a sender must not surface in the request that triggered the email.
            logger.exception(
                "email to %s, subject %r, failed unexpectedly",
                mask_email(message.to_email),
                message.subject,
            )
            return False
        else:
            return True
    return False


def _backoff(attempt: int, base_delay: float, max_delay: float, retry_after: float | None) -> float:
    exponential = base_delay * 2.0 ** (attempt - 1)
    # Jitter spreads the retries of many messages failed by one outage.
    jittered = exponential * random.uniform(1.0, 1.5)
    return min(max_delay, max(jittered, retry_after or 0.0))


def _log_gave_up(message: OutgoingEmail, exc: EmailDeliveryError, attempt: int) -> None:
    reason = "not retryable" if not exc.retryable else "out of attempts"
    logger.error(
        "email to %s, subject %r, not delivered after %d attempt(s), %s: %s",
        mask_email(message.to_email),
        message.subject,
        attempt,
        reason,
        exc,
    )
