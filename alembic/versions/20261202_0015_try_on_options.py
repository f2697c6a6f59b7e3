"""try-on options: the person's hair colour on each image

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

`images.hair_color` is a colour id of app/styles/colors.py; NULL keeps the person's own colour
("keep", also what every earlier image did).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite cannot reflect AUTOINCREMENT: every rebuild must say it (CR-07, 0007).
AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("hair_color", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_column("hair_color")
