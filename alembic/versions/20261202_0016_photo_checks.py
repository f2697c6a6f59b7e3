"""photo_checks: what the photo checks measured per upload, replacing uploads.has_face

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02

Before charging, a photo is now refused for no face, several faces, a face too small, too dark
or too blurry (SPEC §4a). The measurements are cached per upload in `photo_checks` instead of
the single `uploads.has_face` flag. The flag's data moves over as version-0 rows (one face or
none, nothing else known): the code measures those again on their next use, and the downgrade
turns every row back into the flag, so no answer is lost either way.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite cannot reflect AUTOINCREMENT: every rebuild must say it (CR-07, 0007).
AUTOINCREMENT = {"sqlite_autoincrement": True}
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LEGACY_VERSION = 0


def upgrade() -> None:
    op.create_table(
        "photo_checks",
        sa.Column("upload_id", BigIntId, nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("face_count", sa.Integer(), nullable=False),
        sa.Column("brightness", sa.Float(), nullable=True),
        sa.Column("sharpness", sa.Float(), nullable=True),
        sa.Column("face_share", sa.Float(), nullable=True),
        sa.Column("face_sharpness", sa.Float(), nullable=True),
        sa.Column(
            "checked_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["uploads.id"],
            name=op.f("fk_photo_checks_upload_id_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", name=op.f("pk_photo_checks")),
    )
    op.execute(
        sa.text(
            "INSERT INTO photo_checks (upload_id, version, face_count) "
            f"SELECT id, {LEGACY_VERSION}, CASE WHEN has_face THEN 1 ELSE 0 END "
            "FROM uploads WHERE has_face IS NOT NULL"
        )
    )
    with op.batch_alter_table("uploads", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_column("has_face")


def downgrade() -> None:
    with op.batch_alter_table("uploads", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("has_face", sa.Boolean(), nullable=True))
    # Several faces still had "a face" for the old flag (it looked for the largest one).
    op.execute(
        sa.text(
            "UPDATE uploads SET has_face = (SELECT photo_checks.face_count > 0 "
            "FROM photo_checks WHERE photo_checks.upload_id = uploads.id) "
            "WHERE id IN (SELECT upload_id FROM photo_checks)"
        )
    )
    op.drop_table("photo_checks")
