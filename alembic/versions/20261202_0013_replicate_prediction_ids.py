"""Replicate prediction ids: image_views get one like images, both indexed (the webhook finds a
job by its prediction id; a restarted job re-attaches to its prediction)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite cannot reflect AUTOINCREMENT: every rebuild must say it (CR-07, 0007).
AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("image_views", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(
            sa.Column("provider_prediction_id", sa.String(length=128), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_image_views_provider_prediction_id"),
            ["provider_prediction_id"],
            unique=False,
        )
    with op.batch_alter_table("images", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_images_provider_prediction_id"), ["provider_prediction_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_index(batch_op.f("ix_images_provider_prediction_id"))
    with op.batch_alter_table("image_views", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_views_provider_prediction_id"))
        batch_op.drop_column("provider_prediction_id")
