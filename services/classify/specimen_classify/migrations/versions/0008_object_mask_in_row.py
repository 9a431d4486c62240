"""An object's mask PNG in its row (issue 12): ``plankton_objects.mask_png``.

A run wrote each object's crop and mask as two blob files. The mask is a small binary PNG (a
few hundred bytes) read only by ``GET /objects/{id}/mask.png`` and the descriptor backfill, so
runs now keep it in the object's row: one file per object instead of two (file creation is what
a frame's blobs cost, on a shared volume above all). Objects stored before keep their
``mask_key`` blob, still served.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plankton_objects", sa.Column("mask_png", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plankton_objects") as batch:
        batch.drop_column("mask_png")
