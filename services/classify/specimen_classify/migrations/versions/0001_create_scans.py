"""Create scans.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from specimen_kit.database import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hospital", sa.String(length=120), nullable=False),
        sa.Column("patient_gender", sa.String(length=16), nullable=False),
        sa.Column("true_label", sa.String(length=16), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("tumor_probability", sa.Float(), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("crop_min_row", sa.Integer(), nullable=False),
        sa.Column("crop_min_col", sa.Integer(), nullable=False),
        sa.Column("crop_max_row", sa.Integer(), nullable=False),
        sa.Column("crop_max_col", sa.Integer(), nullable=False),
        sa.Column("classified_at", UtcDateTime(), nullable=False),
        sa.Column("image_key", sa.String(length=64), nullable=False),
        sa.Column("image_media_type", sa.String(length=64), nullable=False),
        sa.Column("image_bytes", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("patient_gender IN ('female', 'male', 'other', 'unknown')",
                           name=op.f("ck_scans_patient_gender")),
        sa.CheckConstraint("label IN ('tumor', 'healthy')", name=op.f("ck_scans_label")),
        sa.CheckConstraint("true_label IN ('tumor', 'healthy')", name=op.f("ck_scans_true_label")),
        sa.PrimaryKeyConstraint("id", name="pk_scans"),
        sa.UniqueConstraint("image_key", name="uq_scans_image_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_scans_hospital_created_at", "scans", ["hospital", "created_at"])
    op.create_index("ix_scans_created_at", "scans", ["created_at"])


def downgrade() -> None:
    op.drop_table("scans")
