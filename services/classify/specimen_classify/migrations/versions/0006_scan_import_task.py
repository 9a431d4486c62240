"""Scan imports (issue 12): ``scans.import_task_id``, the import task that filed a scan.

Unique, so that a scan-import task retried after its scan was committed (a worker killed
between the commit and the task's end) finds that scan instead of filing a second one. NULL for
scans filed one at a time (``POST /scans``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scans", sa.Column("import_task_id", sa.Integer(), nullable=True))
    op.create_index("uq_scans_import_task_id", "scans", ["import_task_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_scans_import_task_id", table_name="scans")
    with op.batch_alter_table("scans") as batch:
        batch.drop_column("import_task_id")
