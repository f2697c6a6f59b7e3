"""sharing and privacy: public share links of an image (stored hashed), retention window

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02

`share_links` holds one live link per image, by the SHA-256 of its token; the row is deleted
with its image, and the image with its owner (SPEC §4a). `users.retention_days` is the
person's own window: their uploads and results older than it are purged (null: kept).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migrations carry their own types: they must not change when the models do.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "share_links",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("image_id", BigIntId, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_share_links_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_links")),
        sa.UniqueConstraint("image_id", name=op.f("uq_share_links_image_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_share_links_token_hash")),
        sqlite_autoincrement=True,
    )
    # A plain ADD COLUMN on both backends (no SQLite table rebuild).
    op.add_column("users", sa.Column("retention_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place; batch mode would rebuild the table.
    op.drop_column("users", "retention_days")
    op.drop_table("share_links")
