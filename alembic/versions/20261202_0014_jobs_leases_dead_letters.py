"""jobs: owned leases with a fencing counter, queue leases, view attempts, dead letters

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

Leases carry their holder and a counter every claim increments; only the current holder may
complete or fail a job (JOB-09). `queued_until` keeps the sweepers from queueing a job again
while a message for it is still in the queue (JOB-08). Side views count their claims like the
front image, and jobs given up after JOB_MAX_ATTEMPTS are kept in `dead_letters` (JOB-07).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite cannot reflect AUTOINCREMENT: every rebuild must say it (CR-07, 0007).
AUTOINCREMENT = {"sqlite_autoincrement": True}
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=80), nullable=True))
        batch_op.add_column(
            sa.Column("lease_token", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("queued_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("image_views", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=80), nullable=True))
        batch_op.add_column(
            sa.Column("lease_token", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "dead_letters",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("task_name", sa.String(length=80), nullable=False),
        sa.Column("image_id", BigIntId, nullable=False),
        sa.Column("view", sa.String(length=8), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_dead_letters_image_id"), "dead_letters", ["image_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_dead_letters_image_id"), table_name="dead_letters")
    op.drop_table("dead_letters")
    with op.batch_alter_table("image_views", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("lease_token")
        batch_op.drop_column("lease_owner")
    with op.batch_alter_table("images", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_column("queued_until")
        batch_op.drop_column("lease_token")
        batch_op.drop_column("lease_owner")
