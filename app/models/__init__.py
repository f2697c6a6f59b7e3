"""Every ORM model, imported here so Alembic and the admin see the whole schema."""

from app.models.admin_audit import AdminAudit
from app.models.auth_challenge import AuthChallenge, ChallengePurpose
from app.models.auth_session import AuthSession
from app.models.base import Base, never_reuse_ids
from app.models.credit_ledger import CreditLedgerEntry, CreditReason
from app.models.idempotency_key import IdempotencyKey
from app.models.image import DeadLetter, Image, ImageStatus, ImageView, SideView, ViewsStatus
from app.models.payment import (
    CHECKOUT_SESSION_LIFETIME,
    FINAL_STATUSES,
    RETRYABLE_STATUSES,
    SETTLED_STATUSES,
    PaymentAttempt,
    PaymentRefund,
    Transaction,
    TransactionStatus,
    WebhookEvent,
)
from app.models.photo_check import PhotoCheck
from app.models.share_link import ShareLink
from app.models.style import Style, StyleCategory, StyleGender, StyleLength
from app.models.upload import Upload, UploadStatus
from app.models.user import User, UserRole

never_reuse_ids(Base.metadata)

__all__ = [
    "CHECKOUT_SESSION_LIFETIME",
    "FINAL_STATUSES",
    "RETRYABLE_STATUSES",
    "SETTLED_STATUSES",
    "AdminAudit",
    "AuthChallenge",
    "AuthSession",
    "Base",
    "ChallengePurpose",
    "CreditLedgerEntry",
    "CreditReason",
    "DeadLetter",
    "IdempotencyKey",
    "Image",
    "ImageStatus",
    "ImageView",
    "PaymentAttempt",
    "PaymentRefund",
    "PhotoCheck",
    "ShareLink",
    "SideView",
    "Style",
    "StyleCategory",
    "StyleGender",
    "StyleLength",
    "Transaction",
    "TransactionStatus",
    "Upload",
    "UploadStatus",
    "User",
    "UserRole",
    "ViewsStatus",
    "WebhookEvent",
]
