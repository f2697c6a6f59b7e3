"""uploads.presigned_key: the key a browser's presigned form may write, kept apart from the
checked copy that is used (issue 9, defect 3; UP-06)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite cannot reflect AUTOINCREMENT: every rebuild must say it (CR-07, 0007).
AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("uploads", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("presigned_key", sa.String(length=1024), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_uploads_presigned_key"), ["presigned_key"])


def downgrade() -> None:
    with op.batch_alter_table("uploads", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_uploads_presigned_key"), type_="unique")
        batch_op.drop_column("presigned_key")
