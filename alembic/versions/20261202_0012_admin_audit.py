"""admin audit: who did what from /admin and why (CFG-05)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migrations carry their own types: they must not change when the models do.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "admin_audit",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("admin_name", sa.String(length=320), nullable=False),
        sa.Column("admin_user_id", BigIntId, nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["admin_user_id"],
            ["users.id"],
            name=op.f("fk_admin_audit_admin_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_audit")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_admin_audit_admin_user_id"), "admin_audit", ["admin_user_id"])
    op.create_index(op.f("ix_admin_audit_created_at"), "admin_audit", ["created_at"])
    op.create_index("ix_admin_audit_target", "admin_audit", ["target_type", "target_id"])


def downgrade() -> None:
    op.drop_index("ix_admin_audit_target", table_name="admin_audit")
    op.drop_index(op.f("ix_admin_audit_created_at"), table_name="admin_audit")
    op.drop_index(op.f("ix_admin_audit_admin_user_id"), table_name="admin_audit")
    op.drop_table("admin_audit")
