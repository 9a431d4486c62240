"""SQLAlchemy tables of the classify service; the Alembic migrations must match them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from specimen_classify.domain.scans import MAX_PATIENT_REF_CHARS
from specimen_kit.database import UtcDateTime, named_metadata
from specimen_kit.hospitals import MAX_HOSPITAL_ID_CHARS

BLOB_KEY_CHARS = 64


class Base(DeclarativeBase):
    metadata = named_metadata()


class ScanRow(Base):
    """One MRI scan record with its latest classification and its image's blob (the latest is
    kept here too, so that listing and filtering by label or model need no join)."""

    __tablename__ = "scans"

    # Integer ids, as the reference design's /MRI/<id>; never reused (AUTOINCREMENT on SQLite,
    # a sequence on PostgreSQL), so a deleted scan's id never names another scan.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The hospital's id in the users service's list; another service's table, so no foreign key.
    hospital: Mapped[str] = mapped_column(String(MAX_HOSPITAL_ID_CHARS))
    # The hospital's pseudonym of the patient; its limit is a setting within this width.
    patient_ref: Mapped[str | None] = mapped_column(String(MAX_PATIENT_REF_CHARS))
    patient_gender: Mapped[str] = mapped_column(String(16))
    true_label: Mapped[str | None] = mapped_column(String(16))
    # Bounded by a setting (SPECIMEN_CLASSIFY_SCAN_NOTES_MAX_CHARS), so no length in the schema.
    notes: Mapped[str | None] = mapped_column(Text)
    # The users service's id (the token's ``sub``); another service's table, so no foreign key.
    created_by: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    label: Mapped[str] = mapped_column(String(16))
    probability: Mapped[float] = mapped_column(Float)
    tumor_probability: Mapped[float] = mapped_column(Float)
    decision_threshold: Mapped[float | None] = mapped_column(Float)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int] = mapped_column(Integer)
    crop_min_row: Mapped[int] = mapped_column(Integer)
    crop_min_col: Mapped[int] = mapped_column(Integer)
    crop_max_row: Mapped[int] = mapped_column(Integer)
    crop_max_col: Mapped[int] = mapped_column(Integer)
    classified_at: Mapped[datetime] = mapped_column(UtcDateTime)

    image_key: Mapped[str] = mapped_column(String(BLOB_KEY_CHARS), unique=True)
    image_media_type: Mapped[str] = mapped_column(String(64))
    image_bytes: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        # The hospital-scoped, newest-first listing; and the admin's, across hospitals.
        Index("ix_scans_hospital_created_at", "hospital", "created_at"),
        Index("ix_scans_created_at", "created_at"),
        # A patient's scans: references are scoped to their hospital.
        Index("ix_scans_hospital_patient_ref", "hospital", "patient_ref"),
        CheckConstraint("patient_gender IN ('female', 'male', 'other', 'unknown')",
                        name="patient_gender"),
        CheckConstraint("label IN ('tumor', 'healthy')", name="label"),
        CheckConstraint("true_label IN ('tumor', 'healthy')", name="true_label"),
        {"sqlite_autoincrement": True},
    )


class ScanClassificationRow(Base):
    """One result in a scan's classification history; deleted with its scan."""

    __tablename__ = "scan_classifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(16))
    probability: Mapped[float] = mapped_column(Float)
    tumor_probability: Mapped[float] = mapped_column(Float)
    # None for the results recorded before the threshold was kept (migration 0002).
    decision_threshold: Mapped[float | None] = mapped_column(Float)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int] = mapped_column(Integer)
    crop_min_row: Mapped[int] = mapped_column(Integer)
    crop_min_col: Mapped[int] = mapped_column(Integer)
    crop_max_row: Mapped[int] = mapped_column(Integer)
    crop_max_col: Mapped[int] = mapped_column(Integer)
    classified_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_scan_classifications_scan_id_classified_at", "scan_id", "classified_at"),
        CheckConstraint("label IN ('tumor', 'healthy')", name="label"),
        {"sqlite_autoincrement": True},
    )
