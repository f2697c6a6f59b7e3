"""transactions: the `expired` status and an index for paging through open ones

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "'created', 'processing', 'succeeded', 'failed', 'cancelled', 'refunded'"
NEW_STATUSES = OLD_STATUSES + ", 'expired'"

# SQLite cannot reflect AUTOINCREMENT: every rebuild must say it (CR-07, 0007).
AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("transactions", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint(op.f("ck_transactions_status_known"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_transactions_status_known"), f"status IN ({NEW_STATUSES})"
        )
        batch_op.create_index("ix_transactions_status_id", ["status", "id"], unique=False)


def downgrade() -> None:
    # Expired transactions were open ones nobody paid for: they go back to `created`, which
    # the reconciler of that version will look at again.
    op.execute("UPDATE transactions SET status = 'created' WHERE status = 'expired'")
    with op.batch_alter_table("transactions", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_index("ix_transactions_status_id")
        batch_op.drop_constraint(op.f("ck_transactions_status_known"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_transactions_status_known"), f"status IN ({OLD_STATUSES})"
        )
