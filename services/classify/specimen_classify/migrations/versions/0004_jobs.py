"""Jobs (issue 12): ``jobs`` and their ``job_tasks``, the database record of the RQ work.

- ``jobs``: a plankton run, an export, … with its kind, project, creator, status, validated
  parameters (JSON) and their hash, progress counters, result and timestamps.
- ``job_tasks``: one task of a job (a run: one frame; UNIQUE (job_id, frame_id)), its status,
  attempts, error, RQ job id, objects made and heartbeat (the reconciler's lease).

``plankton_objects.job_id`` stays a plain column (no foreign key): SQLite would have to rebuild
the table for it, and a run's objects outlive nothing of the job but its id.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from specimen_kit.database import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_STATUS = "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')"


def upgrade() -> None:
    sqlite = {"sqlite_autoincrement": True} if op.get_bind().dialect.name == "sqlite" else {}
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("hospital", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("objects", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(_STATUS, name=op.f("ck_jobs_status")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_jobs_project_id_projects"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        **sqlite,
    )
    op.create_index("ix_jobs_project_id_kind_id", "jobs", ["project_id", "kind", "id"])
    op.create_index("ix_jobs_status", "jobs", ["status"])

    op.create_table(
        "job_tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("frame_id", sa.Integer(), nullable=True),
        sa.Column("item", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("rq_job_id", sa.String(length=64), nullable=False),
        sa.Column("objects", sa.Integer(), nullable=False),
        sa.Column("heartbeat_at", UtcDateTime(), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(_STATUS, name=op.f("ck_job_tasks_status")),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE",
                                name="fk_job_tasks_job_id_jobs"),
        sa.ForeignKeyConstraint(["frame_id"], ["frames.id"], ondelete="CASCADE",
                                name="fk_job_tasks_frame_id_frames"),
        sa.PrimaryKeyConstraint("id", name="pk_job_tasks"),
        sa.UniqueConstraint("job_id", "frame_id", name="uq_job_tasks_job_id_frame_id"),
        **sqlite,
    )
    op.create_index("ix_job_tasks_job_id_status", "job_tasks", ["job_id", "status"])
    op.create_index("ix_job_tasks_status_heartbeat_at", "job_tasks", ["status", "heartbeat_at"])
    op.create_index("ix_job_tasks_frame_id", "job_tasks", ["frame_id"])


def downgrade() -> None:
    op.drop_table("job_tasks")
    op.drop_table("jobs")
