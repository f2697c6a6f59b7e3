"""payments: what was paid and what settles, payment attempts, summed refunds, long webhook ids

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# SQLite cannot reflect AUTOINCREMENT: every rebuild and new table must say it (CR-07, 0007).
AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("transactions", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("tax_minor", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("settlement_amount_minor", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("settlement_currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("discount_id", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("refunded_minor", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table(
        "webhook_events", schema=None, table_kwargs=AUTOINCREMENT
    ) as batch_op:
        batch_op.alter_column(
            "webhook_id",
            existing_type=sa.String(length=128),
            type_=sa.String(length=255),
            existing_nullable=False,
        )

    op.create_table(
        "payment_attempts",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("transaction_id", BigIntId, nullable=False),
        sa.Column("payment_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_payment_attempts_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempts")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_payment_attempts_payment_id")),
        **AUTOINCREMENT,
    )
    with op.batch_alter_table(
        "payment_attempts", schema=None, table_kwargs=AUTOINCREMENT
    ) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_attempts_transaction_id"), ["transaction_id"], unique=False
        )

    op.create_table(
        "payment_refunds",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("transaction_id", BigIntId, nullable=False),
        sa.Column("refund_id", sa.String(length=128), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
            name=op.f("fk_payment_refunds_transaction_id_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_payment_refunds_refund_id")),
        **AUTOINCREMENT,
    )
    with op.batch_alter_table(
        "payment_refunds", schema=None, table_kwargs=AUTOINCREMENT
    ) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_refunds_transaction_id"), ["transaction_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table(
        "payment_refunds", schema=None, table_kwargs=AUTOINCREMENT
    ) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_refunds_transaction_id"))
    op.drop_table("payment_refunds")
    with op.batch_alter_table(
        "payment_attempts", schema=None, table_kwargs=AUTOINCREMENT
    ) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_attempts_transaction_id"))
    op.drop_table("payment_attempts")
    with op.batch_alter_table(
        "webhook_events", schema=None, table_kwargs=AUTOINCREMENT
    ) as batch_op:
        batch_op.alter_column(
            "webhook_id",
            existing_type=sa.String(length=255),
            type_=sa.String(length=128),
            existing_nullable=False,
        )
    with op.batch_alter_table("transactions", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_column("refunded_minor")
        batch_op.drop_column("discount_id")
        batch_op.drop_column("settlement_currency")
        batch_op.drop_column("settlement_amount_minor")
        batch_op.drop_column("tax_minor")
