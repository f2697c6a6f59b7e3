from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import BigIntId, UTCDateTime
from app.models.base import Base, TimestampMixin


class ImageStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ViewsStatus(enum.StrEnum):
    NONE = "none"
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"


class SideView(enum.StrEnum):
    RIGHT = "right"
    LEFT = "left"
    BACK = "back"


class Image(TimestampMixin, Base):
    """A generation: the job's state and its result. The web app polls this row."""

    __tablename__ = "images"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'processing', 'completed', 'failed')", name="status_known"
        ),
        CheckConstraint(
            "views_status IN ('none', 'pending', 'processing', 'completed', 'partial', 'failed')",
            name="views_status_known",
        ),
        Index("ix_images_user_id_id", "user_id", "id"),
        Index("ix_images_status_deadline_at", "status", "deadline_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    style_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("styles.id", ondelete="SET NULL"), index=True, nullable=True
    )
    # Snapshots: the history keeps its labels if the style is renamed or removed.
    style_name: Mapped[str] = mapped_column(String(80), nullable=False)
    description: Mapped[str] = mapped_column(String(300), nullable=False)
    input_key: Mapped[str] = mapped_column(String(1024), nullable=False)
    # "This haircut from a photo": the caller's reference upload, instead of a style.
    reference_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # A colour id of app/styles/colors.py; None keeps the person's own colour ("keep") with a
    # style, and takes the reference's colour with a reference.
    hair_color: Mapped[str | None] = mapped_column(String(32), nullable=True)
    output_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # Copies of the finished side views' keys: the status poll stays a one-row read.
    right_view_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    left_view_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    back_view_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    views_status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="none")
    liked: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error_message: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # The Replicate prediction of the current attempt, stored the moment it is created: a
    # restarted job re-attaches to it, and the webhook finds its job by it.
    provider_prediction_id: Mapped[str | None] = mapped_column(
        String(128), index=True, nullable=True
    )
    # Deliveries that claimed the job (JOB-07: past JOB_MAX_ATTEMPTS it is dead-lettered).
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # A worker owns a processing job until then; past it the job may be taken over.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Who holds the lease, and the fencing counter: every claim increments it, and only the
    # holder of the current value may complete, fail or store a result (JOB-09).
    lease_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_token: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # A message for this job (front or views) is in the queue until then: the sweeper queues
    # another only after it, so N sweepers and M passes do not flood the queue (JOB-08).
    queued_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Past this the sweeper fails the job and refunds it.
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    time_taken: Mapped[float | None] = mapped_column(Float, nullable=True)


class ImageView(Base):
    """One side view of a completed front image; each refunded on its own if it fails."""

    __tablename__ = "image_views"
    __table_args__ = (
        UniqueConstraint("image_id", "view", name="uq_image_views_image_id_view"),
        CheckConstraint("view IN ('right', 'left', 'back')", name="view_known"),
        CheckConstraint(
            "status IN ('pending', 'processing', 'completed', 'failed')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("images.id", ondelete="CASCADE"), nullable=False
    )
    view: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    output_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # As on images: the view's current Replicate prediction.
    provider_prediction_id: Mapped[str | None] = mapped_column(
        String(128), index=True, nullable=True
    )
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # As on images: the lease holder, the fencing counter, and the claims so far.
    lease_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_token: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )


class DeadLetter(Base):
    """A job given up after JOB_MAX_ATTEMPTS deliveries (JOB-07): kept for the admin to read
    (what it was, how often it was tried), after its image failed and was refunded. No foreign
    key: the record outlives the image and its owner."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    task_name: Mapped[str] = mapped_column(String(80), nullable=False)
    image_id: Mapped[int] = mapped_column(BigIntId, nullable=False, index=True)
    # The side view for a views job; None for the front image.
    view: Mapped[str | None] = mapped_column(String(8), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    error_code: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
