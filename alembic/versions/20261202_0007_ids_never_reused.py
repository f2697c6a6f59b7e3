"""ids are never reused: SQLite tables get AUTOINCREMENT

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Without AUTOINCREMENT SQLite gives the id of a deleted newest row to the next insert, and every
ledger key, idempotency answer or URL naming the old id then names the new row (CR-07). Each
table is rebuilt (SQLite cannot add AUTOINCREMENT in place; env.py turns foreign keys off for
migrations and checks them afterwards), then each sequence starts above every id the ledger
has ever named, so rows deleted before this migration cannot come back either.
PostgreSQL's sequences never go back: nothing to do there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "styles",
    "users",
    "webhook_events",
    "auth_challenges",
    "credit_ledger",
    "idempotency_keys",
    "images",
    "transactions",
    "uploads",
    "image_views",
)
# Ledger reference types whose ids are rows of these tables ("view" references read "N-left").
LEDGER_REFERENCES = {
    "images": ("image", "view"),
    "users": ("user",),
    "transactions": ("transaction",),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    for table, types in LEDGER_REFERENCES.items():
        named = ", ".join(f"'{kind}'" for kind in types)
        highest = (
            "SELECT COALESCE(MAX(CAST(reference_id AS INTEGER)), 0) FROM credit_ledger "
            f"WHERE reference_type IN ({named})"
        )
        op.execute(
            f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', 0 "
            f"WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{table}')"
        )
        op.execute(f"UPDATE sqlite_sequence SET seq = MAX(seq, ({highest})) WHERE name = '{table}'")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in reversed(TABLES):
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": False}
        ):
            pass
