"""pending signups: each signup challenge carries its own name and password hash

Revision ID: auth_pending
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_pending"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auth_challenges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_name", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("pending_password_hash", sa.String(length=255), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("auth_challenges", schema=None) as batch_op:
        batch_op.drop_column("pending_password_hash")
        batch_op.drop_column("pending_name")
