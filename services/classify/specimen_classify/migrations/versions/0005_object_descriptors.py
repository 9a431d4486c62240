"""Object descriptors (issue 14): ``object_descriptors``, one similarity vector per plankton
object (``domain.plankton.object_similarity``), with its project for the search's scope.

Objects stored before this revision have none: ``python -m specimen_classify
backfill-object-descriptors`` (or a ``descriptor-backfill`` job) describes them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = {"sqlite_autoincrement": True} if op.get_bind().dialect.name == "sqlite" else {}
    op.create_table(
        "object_descriptors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("descriptor_set_version", sa.String(length=16), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["object_id"], ["plankton_objects.id"], ondelete="CASCADE",
                                name="fk_object_descriptors_object_id_plankton_objects"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_object_descriptors_project_id_projects"),
        sa.PrimaryKeyConstraint("id", name="pk_object_descriptors"),
        sa.UniqueConstraint("object_id", name="uq_object_descriptors_object_id"),
        **sqlite,
    )
    op.create_index("ix_object_descriptors_project_id_descriptor_set_version", "object_descriptors",
                    ["project_id", "descriptor_set_version", "id"])


def downgrade() -> None:
    op.drop_table("object_descriptors")
