"""Scan descriptors (issue 14): ``scan_descriptors``, the similarity vector of each MRI scan's
slice (:mod:`specimen_imaging.similarity`, the descriptor set of segment's library), for
``POST /scans/search`` and segment's ``POST /images/search`` with ``sources=scans``.

Scans filed before this revision have none: a ``descriptor-backfill`` job (``python -m
specimen_classify backfill-object-descriptors``, without ``--project``) describes them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = {"sqlite_autoincrement": True} if op.get_bind().dialect.name == "sqlite" else {}
    op.create_table(
        "scan_descriptors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("descriptor_set_version", sa.String(length=16), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], ondelete="CASCADE",
                                name="fk_scan_descriptors_scan_id_scans"),
        sa.PrimaryKeyConstraint("id", name="pk_scan_descriptors"),
        sa.UniqueConstraint("scan_id", "region", "descriptor_set_version",
                            name="uq_scan_descriptors_scan_id_region_version"),
        **sqlite,
    )
    op.create_index("ix_scan_descriptors_descriptor_set_version_scan_id", "scan_descriptors",
                    ["descriptor_set_version", "scan_id"])


def downgrade() -> None:
    op.drop_table("scan_descriptors")
