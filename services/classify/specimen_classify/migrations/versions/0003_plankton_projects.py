"""Plankton projects (issue 12): projects, their members, frames, objects and the objects'
annotation history.

- ``projects``: owned by a user (the users service's id, no foreign key), with the default
  pipeline settings as JSON.
- ``project_members``: a user's role (viewer, annotator, manager) in a project.
- ``frames``: the uploaded images (a blob each) and their metadata; ``file_name`` unique per
  project (EcoTaxa's img_file_name).
- ``plankton_objects``: what a run cut out of a frame, its measurements, the forest's answer and
  the latest review; ``job_id`` stays a plain column here (the jobs table comes with 0004).
- ``object_annotations``: every change of an object's category or status.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from specimen_kit.database import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_STATUS = "status IN ('predicted', 'validated', 'dubious')"


def upgrade() -> None:
    sqlite = {"sqlite_autoincrement": True} if op.get_bind().dialect.name == "sqlite" else {}
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("instrument", sa.String(length=64), nullable=True),
        sa.Column("pixel_size_um", sa.Float(), nullable=True),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        **sqlite,
    )
    op.create_index("ix_projects_owner_id", "projects", ["owner_id"])

    op.create_table(
        "project_members",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('viewer', 'annotator', 'manager')",
                           name=op.f("ck_project_members_role")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_project_members_project_id_projects"),
        sa.PrimaryKeyConstraint("project_id", "user_id", name="pk_project_members"),
    )
    op.create_index("ix_project_members_user_id", "project_members", ["user_id"])

    op.create_table(
        "frames",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("image_key", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.String(length=100), nullable=True),
        sa.Column("acq_id", sa.String(length=100), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("depth_min", sa.Float(), nullable=True),
        sa.Column("depth_max", sa.Float(), nullable=True),
        sa.Column("taken_at", UtcDateTime(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_frames_project_id_projects"),
        sa.PrimaryKeyConstraint("id", name="pk_frames"),
        sa.UniqueConstraint("image_key", name="uq_frames_image_key"),
        sa.UniqueConstraint("project_id", "file_name", name="uq_frames_project_id_file_name"),
        **sqlite,
    )
    op.create_index("ix_frames_project_id_sample_id", "frames", ["project_id", "sample_id"])

    op.create_table(
        "plankton_objects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("frame_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("min_row", sa.Integer(), nullable=False),
        sa.Column("min_col", sa.Integer(), nullable=False),
        sa.Column("max_row", sa.Integer(), nullable=False),
        sa.Column("max_col", sa.Integer(), nullable=False),
        sa.Column("centroid_row", sa.Float(), nullable=False),
        sa.Column("centroid_col", sa.Float(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("feature_set_version", sa.String(length=64), nullable=False),
        sa.Column("crop_key", sa.String(length=64), nullable=True),
        sa.Column("mask_key", sa.String(length=64), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("scores", sa.Text(), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("annotated_by", sa.Integer(), nullable=True),
        sa.Column("annotated_by_name", sa.String(length=200), nullable=True),
        sa.Column("annotated_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(_STATUS, name=op.f("ck_plankton_objects_status")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE",
                                name="fk_plankton_objects_project_id_projects"),
        sa.ForeignKeyConstraint(["frame_id"], ["frames.id"], ondelete="CASCADE",
                                name="fk_plankton_objects_frame_id_frames"),
        sa.PrimaryKeyConstraint("id", name="pk_plankton_objects"),
        sa.UniqueConstraint("frame_id", "rank", name="uq_plankton_objects_frame_id_rank"),
        **sqlite,
    )
    op.create_index("ix_plankton_objects_project_id_status_category", "plankton_objects",
                    ["project_id", "status", "category"])
    op.create_index("ix_plankton_objects_project_id_probability", "plankton_objects",
                    ["project_id", "probability"])
    op.create_index("ix_plankton_objects_frame_id", "plankton_objects", ["frame_id"])

    op.create_table(
        "object_annotations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(_STATUS, name=op.f("ck_object_annotations_status")),
        sa.ForeignKeyConstraint(["object_id"], ["plankton_objects.id"], ondelete="CASCADE",
                                name="fk_object_annotations_object_id_plankton_objects"),
        sa.PrimaryKeyConstraint("id", name="pk_object_annotations"),
        **sqlite,
    )
    op.create_index("ix_object_annotations_object_id_at", "object_annotations",
                    ["object_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_object_annotations_object_id_at", table_name="object_annotations")
    op.drop_table("object_annotations")
    for index in ("ix_plankton_objects_frame_id", "ix_plankton_objects_project_id_probability",
                  "ix_plankton_objects_project_id_status_category"):
        op.drop_index(index, table_name="plankton_objects")
    op.drop_table("plankton_objects")
    op.drop_index("ix_frames_project_id_sample_id", table_name="frames")
    op.drop_table("frames")
    op.drop_index("ix_project_members_user_id", table_name="project_members")
    op.drop_table("project_members")
    op.drop_index("ix_projects_owner_id", table_name="projects")
    op.drop_table("projects")
