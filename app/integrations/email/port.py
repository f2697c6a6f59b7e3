"""The email port: what the auth flows hand to whichever sender the settings chose."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One transactional email to one recipient.

    The bodies carry one-time codes and token links, so they stay out of `repr()` and
    therefore out of any log line or traceback that formats the message.
    """

    to_email: str
    to_name: str
    subject: str
    html: str = field(repr=False)
    text: str = field(repr=False)


class EmailDeliveryError(Exception):
    """A send that did not go through.

    `retryable` says whether trying the same message again can succeed (rate limit, outage,
    timeout) or cannot (rejected payload, bad credentials). `retry_after` is the provider's
    own hint in seconds, when it gave one.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class EmailSender(Protocol):
    async def send(self, message: OutgoingEmail) -> None:
        """Hand the message over for delivery, or raise `EmailDeliveryError`."""
        ...
