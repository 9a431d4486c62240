"""Create image_descriptors: the similarity descriptors of library pictures (issue 14).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_descriptors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("segmentation_id", sa.Uuid(), nullable=True),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("descriptor_set_version", sa.String(length=16), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE",
                                name="fk_image_descriptors_image_id_images"),
        sa.ForeignKeyConstraint(["segmentation_id"], ["segmentations.id"], ondelete="CASCADE",
                                name="fk_image_descriptors_segmentation_id_segmentations"),
        sa.PrimaryKeyConstraint("id", name="pk_image_descriptors"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_image_descriptors_owner_id_descriptor_set_version", "image_descriptors",
                    ["owner_id", "descriptor_set_version", "id"])
    op.create_index("ix_image_descriptors_image_id", "image_descriptors", ["image_id"])
    op.create_index("ix_image_descriptors_segmentation_id", "image_descriptors",
                    ["segmentation_id"])


def downgrade() -> None:
    op.drop_table("image_descriptors")
