"""Hospital ids, patient references and the classification history (issue 10).

- ``scans.hospital`` held the free-text name a token carried; it becomes the hospital's id in
  the users service's managed list, computed with
  :func:`specimen_kit.hospitals.legacy_hospital_id`, the same function the users service's
  migration 0003 applies to its users, so both agree without reading each other's tables.
- ``scans.patient_ref``: the hospital's pseudonym of the patient, indexed with the hospital.
- ``scans.decision_threshold``: the threshold of the latest classification (None before).
- ``scan_classifications``: every result a scan was given. Each existing scan's current
  classification becomes its first row (without a decision threshold, which was not kept).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from specimen_kit.database import UtcDateTime
from specimen_kit.hospitals import legacy_hospital_id

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_scans = sa.table("scans", sa.column("hospital", sa.String()))
_CLASSIFICATION_COLUMNS = (
    "label", "probability", "tumor_probability", "model_name", "model_version", "crop_min_row",
    "crop_min_col", "crop_max_row", "crop_max_col", "classified_at",
)


def upgrade() -> None:
    bind = op.get_bind()
    for spelling in list(bind.scalars(sa.select(_scans.c.hospital).distinct())):
        hospital_id = legacy_hospital_id(spelling)
        if hospital_id != spelling:
            bind.execute(sa.update(_scans).where(_scans.c.hospital == spelling)
                         .values(hospital=hospital_id))

    with op.batch_alter_table("scans") as scans:
        scans.add_column(sa.Column("patient_ref", sa.String(length=128), nullable=True))
        scans.add_column(sa.Column("decision_threshold", sa.Float(), nullable=True))
    op.create_index("ix_scans_hospital_patient_ref", "scans", ["hospital", "patient_ref"])

    sqlite = {"sqlite_autoincrement": True} if bind.dialect.name == "sqlite" else {}
    op.create_table(
        "scan_classifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("tumor_probability", sa.Float(), nullable=False),
        sa.Column("decision_threshold", sa.Float(), nullable=True),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("crop_min_row", sa.Integer(), nullable=False),
        sa.Column("crop_min_col", sa.Integer(), nullable=False),
        sa.Column("crop_max_row", sa.Integer(), nullable=False),
        sa.Column("crop_max_col", sa.Integer(), nullable=False),
        sa.Column("classified_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("label IN ('tumor', 'healthy')",
                           name=op.f("ck_scan_classifications_label")),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], ondelete="CASCADE",
                                name="fk_scan_classifications_scan_id_scans"),
        sa.PrimaryKeyConstraint("id", name="pk_scan_classifications"),
        **sqlite,
    )
    op.create_index("ix_scan_classifications_scan_id_classified_at", "scan_classifications",
                    ["scan_id", "classified_at"])
    columns = ", ".join(_CLASSIFICATION_COLUMNS)
    # In id order, so that the history's ids follow the scans'.
    op.execute(f"INSERT INTO scan_classifications (scan_id, {columns}) "  # noqa: S608 (constants)
               f"SELECT id, {columns} FROM scans ORDER BY id")


def downgrade() -> None:
    op.drop_index("ix_scan_classifications_scan_id_classified_at",
                  table_name="scan_classifications")
    op.drop_table("scan_classifications")
    op.drop_index("ix_scans_hospital_patient_ref", table_name="scans")
    with op.batch_alter_table("scans") as scans:
        scans.drop_column("decision_threshold")
        scans.drop_column("patient_ref")
    # The hospital ids stay: the names they came from are the users service's to give.
