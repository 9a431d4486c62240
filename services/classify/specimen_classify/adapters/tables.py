"""SQLAlchemy tables of the classify service; the Alembic migrations must match them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
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
    # The scan-import task that filed this scan (POST /scans/imports), unique: a task retried
    # after its scan was committed finds it instead of filing a second one. A plain column, as
    # plankton_objects.job_id: SQLite cannot add a foreign key to an existing table.
    import_task_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("uq_scans_import_task_id", "import_task_id", unique=True),
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


# --- plankton projects (issue 12; migration 0003) ---------------------------------------------

PROJECT_ROLES_CHECK = "role IN ('viewer', 'annotator', 'manager')"
OBJECT_STATUS_CHECK = "status IN ('predicted', 'validated', 'dubious')"


class ProjectRow(Base):
    """A plankton project: its frames, their objects, its members; owned by one user."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    instrument: Mapped[str | None] = mapped_column(String(64))
    pixel_size_um: Mapped[float | None] = mapped_column(Float)
    # JSON of the default pipeline settings (validated by the API's models before storing).
    settings: Mapped[str] = mapped_column(Text)
    # The users service's id (the token's ``sub``); another service's table, so no foreign key.
    owner_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_projects_owner_id", "owner_id"),
        {"sqlite_autoincrement": True},
    )


class ProjectMemberRow(Base):
    """A user's role in a project (the owner is a manager without needing a row)."""

    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        # "Which projects may this user see": the listing's membership join.
        Index("ix_project_members_user_id", "user_id"),
        CheckConstraint(PROJECT_ROLES_CHECK, name="role"),
    )


class FrameRow(Base):
    """One uploaded frame (a raw image of the instrument) and its metadata."""

    __tablename__ = "frames"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # EcoTaxa's img_file_name base: unique within the project.
    file_name: Mapped[str] = mapped_column(String(255))
    image_key: Mapped[str] = mapped_column(String(BLOB_KEY_CHARS), unique=True)
    media_type: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sample_id: Mapped[str | None] = mapped_column(String(100))
    acq_id: Mapped[str | None] = mapped_column(String(100))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    depth_min: Mapped[float | None] = mapped_column(Float)
    depth_max: Mapped[float | None] = mapped_column(Float)
    taken_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("project_id", "file_name", name="uq_frames_project_id_file_name"),
        Index("ix_frames_project_id_sample_id", "project_id", "sample_id"),
        {"sqlite_autoincrement": True},
    )


class PlanktonObjectRow(Base):
    """One object a run cut out of a frame: where, what it measures, what the forest said, and
    what a person made of it (the latest; ``object_annotations`` keeps the history)."""

    __tablename__ = "plankton_objects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    # The run (job) that made it; the jobs table comes with migration 0004.
    job_id: Mapped[int | None] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer)
    min_row: Mapped[int] = mapped_column(Integer)
    min_col: Mapped[int] = mapped_column(Integer)
    max_row: Mapped[int] = mapped_column(Integer)
    max_col: Mapped[int] = mapped_column(Integer)
    centroid_row: Mapped[float] = mapped_column(Float)
    centroid_col: Mapped[float] = mapped_column(Float)
    features: Mapped[str] = mapped_column(Text)
    feature_set_version: Mapped[str] = mapped_column(String(64))
    crop_key: Mapped[str | None] = mapped_column(String(BLOB_KEY_CHARS))
    mask_key: Mapped[str | None] = mapped_column(String(BLOB_KEY_CHARS))
    # The mask PNG itself (migration 0008), loaded only when asked for: runs keep it here
    # rather than in a blob file of its own; objects stored before have ``mask_key``.
    mask_png: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    category: Mapped[str] = mapped_column(String(100))
    probability: Mapped[float] = mapped_column(Float)
    scores: Mapped[str] = mapped_column(Text)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    annotated_by: Mapped[int | None] = mapped_column(Integer)
    annotated_by_name: Mapped[str | None] = mapped_column(String(200))
    annotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("frame_id", "rank", name="uq_plankton_objects_frame_id_rank"),
        Index("ix_plankton_objects_project_id_status_category", "project_id", "status",
              "category"),
        Index("ix_plankton_objects_project_id_probability", "project_id", "probability"),
        Index("ix_plankton_objects_frame_id", "frame_id"),
        CheckConstraint(OBJECT_STATUS_CHECK, name="status"),
        {"sqlite_autoincrement": True},
    )


class ObjectAnnotationRow(Base):
    """One change of an object's category or status, by whom and when."""

    __tablename__ = "object_annotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("plankton_objects.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(Integer)
    user_name: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_object_annotations_object_id_at", "object_id", "at"),
        CheckConstraint(OBJECT_STATUS_CHECK, name="status"),
        {"sqlite_autoincrement": True},
    )


# --- jobs (issue 12; migration 0004) -----------------------------------------------------------

JOB_STATUS_CHECK = "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')"


class JobRow(Base):
    """A long piece of work (a plankton run, an export, …) split into tasks that RQ workers run.

    Recorded here as well as in Redis, so that a Redis restart loses nothing acknowledged: the
    reconciler (:func:`specimen_classify.adapters.jobs.reconcile`) re-enqueues what Redis forgot.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # The users service's id (the token's ``sub``); another service's table, so no foreign key.
    created_by: Mapped[int] = mapped_column(Integer)
    hospital: Mapped[str | None] = mapped_column(String(MAX_HOSPITAL_ID_CHARS))
    status: Mapped[str] = mapped_column(String(16))
    # JSON: for runs, the validated settings (RunSettings) with the model version resolved.
    params: Mapped[str] = mapped_column(Text)
    params_hash: Mapped[str] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    objects: Mapped[int] = mapped_column(Integer)
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_jobs_project_id_kind_id", "project_id", "kind", "id"),
        Index("ix_jobs_status", "status"),
        CheckConstraint(JOB_STATUS_CHECK, name="status"),
        {"sqlite_autoincrement": True},
    )


class JobTaskRow(Base):
    """One task of a job (a run: one frame), run by one RQ job whose id derives from this id."""

    __tablename__ = "job_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    frame_id: Mapped[int | None] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    # What a task without a frame works on (an export's "export"), for the job's kind to read.
    item: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    # Claims so far: each start counts, so a worker lost mid-task and the next one are told apart.
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    rq_job_id: Mapped[str] = mapped_column(String(64))
    objects: Mapped[int] = mapped_column(Integer)
    # Written by the running task every lease/4 seconds; a running task whose heartbeat is older
    # than the lease lost its worker and is queued again by the reconciler.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("job_id", "frame_id", name="uq_job_tasks_job_id_frame_id"),
        Index("ix_job_tasks_job_id_status", "job_id", "status"),
        Index("ix_job_tasks_status_heartbeat_at", "status", "heartbeat_at"),
        Index("ix_job_tasks_frame_id", "frame_id"),
        CheckConstraint(JOB_STATUS_CHECK, name="status"),
        {"sqlite_autoincrement": True},
    )


# --- object descriptors (issue 14; migration 0005) -----------------------------------------------


class ObjectDescriptorRow(Base):
    """An object's similarity descriptor (``domain.plankton.object_similarity``), one per object:
    little-endian float32 bytes, scoped by project so a search loads one project's rows only."""

    __tablename__ = "object_descriptors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("plankton_objects.id", ondelete="CASCADE"),
                                           unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    descriptor_set_version: Mapped[str] = mapped_column(String(16))
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        # The search's scope (and its cache stamp: count and largest id of a project's rows).
        Index("ix_object_descriptors_project_id_descriptor_set_version", "project_id",
              "descriptor_set_version", "id"),
        {"sqlite_autoincrement": True},
    )


# --- scan descriptors (issue 14; migration 0007) -------------------------------------------------


class ScanDescriptorRow(Base):
    """A scan's similarity descriptor (:mod:`specimen_imaging.similarity`, the set segment's
    library uses): little-endian float32 bytes, ``region`` 0 the whole slice. No hospital column:
    the search joins ``scans`` for it, so a scan moved to another hospital is searched there at
    once."""

    __tablename__ = "scan_descriptors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id", ondelete="CASCADE"))
    region: Mapped[int] = mapped_column(Integer)
    descriptor_set_version: Mapped[str] = mapped_column(String(16))
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("scan_id", "region", "descriptor_set_version",
                         name="uq_scan_descriptors_scan_id_region_version"),
        # The search's rows of one version, joined to their scans by id.
        Index("ix_scan_descriptors_descriptor_set_version_scan_id", "descriptor_set_version",
              "scan_id"),
        {"sqlite_autoincrement": True},
    )
