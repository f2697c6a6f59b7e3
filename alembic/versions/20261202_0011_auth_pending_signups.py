"""pending signups: each signup challenge carries its own name and password hash

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite cannot reflect AUTOINCREMENT: every rebuild must say it (CR-07, 0007).
AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table(
        "auth_challenges", schema=None, table_kwargs=AUTOINCREMENT
    ) as batch_op:
        batch_op.add_column(sa.Column("pending_name", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("pending_password_hash", sa.String(length=255), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table(
        "auth_challenges", schema=None, table_kwargs=AUTOINCREMENT
    ) as batch_op:
        batch_op.drop_column("pending_password_hash")
        batch_op.drop_column("pending_name")
