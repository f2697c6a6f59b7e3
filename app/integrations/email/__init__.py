"""Transactional email: the port, its two senders, delivery with retries and the templates."""

from app.integrations.email.brevo import BrevoSender
from app.integrations.email.delivery import deliver_with_retries
from app.integrations.email.local import LocalMailbox
from app.integrations.email.port import EmailDeliveryError, EmailSender, OutgoingEmail
from app.integrations.email.templates import EmailTemplates, RenderedEmail

__all__ = [
    "BrevoSender",
    "EmailDeliveryError",
    "EmailSender",
    "EmailTemplates",
    "LocalMailbox",
    "OutgoingEmail",
    "RenderedEmail",
    "deliver_with_retries",
]
