"""Settings of the classify service (environment variables prefixed ``SPECIMEN_``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urljoin

from pydantic import Field, field_validator
from sqlalchemy.engine import make_url

from specimen_classify.domain.scans import MAX_PATIENT_REF_CHARS
from specimen_kit.settings import ServiceSettings


class ClassifySettings(ServiceSettings):
    """The shared settings; the classify features add theirs here."""

    # Images: the largest slice or frame decoded, checked from its header before any pixel is read.
    max_image_pixels: int = Field(
        default=40_000_000, gt=0, validation_alias="SPECIMEN_CLASSIFY_MAX_IMAGE_PIXELS")
    # Objects: the most one image may hold (each costs memory and an answer row whatever its
    # size, so a frame of specks is refused as a 422 before anything is measured).
    max_objects: int = Field(default=100_000, gt=0, validation_alias="SPECIMEN_CLASSIFY_MAX_OBJECTS")
    # Work stops between steps after this long: a little under the gateway's 120 s, so the
    # gateway hears a 503 rather than timing out while the CPU keeps working.
    work_deadline_seconds: float | None = Field(
        default=110.0, gt=0, validation_alias="SPECIMEN_CLASSIFY_WORK_DEADLINE_SECONDS")
    mri_batch_max: int = Field(default=32, gt=0, validation_alias="SPECIMEN_CLASSIFY_MRI_BATCH_MAX")
    plankton_rows_max: int = Field(
        default=10_000, gt=0, validation_alias="SPECIMEN_CLASSIFY_PLANKTON_ROWS_MAX")

    # Models: the store the trainer writes and every replica loads from (a shared volume when
    # there are replicas), and how often a replica looks for a newly activated version.
    model_dir: Path | None = Field(default=None, validation_alias="SPECIMEN_CLASSIFY_MODEL_DIR")
    model_refresh_seconds: float = Field(
        default=2.0, ge=0, validation_alias="SPECIMEN_CLASSIFY_MODEL_REFRESH_SECONDS")

    # Scans: their rows and their images.
    database_url: str = Field(default="", validation_alias="SPECIMEN_CLASSIFY_DATABASE_URL")
    blob_dir: Path | None = Field(default=None, validation_alias="SPECIMEN_CLASSIFY_BLOB_DIR")
    scan_notes_max_chars: int = Field(
        default=2000, gt=0, validation_alias="SPECIMEN_CLASSIFY_SCAN_NOTES_MAX_CHARS")
    scan_patient_ref_max_chars: int = Field(
        default=64, gt=0, le=MAX_PATIENT_REF_CHARS,
        validation_alias="SPECIMEN_CLASSIFY_SCAN_PATIENT_REF_MAX_CHARS")
    # The users service keeps the list of hospitals an admin may file scans under; by default
    # it is the service that serves the JWKS.
    users_url: str | None = Field(default=None, validation_alias="SPECIMEN_CLASSIFY_USERS_URL")
    users_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, validation_alias="SPECIMEN_CLASSIFY_USERS_TIMEOUT_SECONDS")
    # The CSV export is built in memory: past this many rows it asks for narrower filters.
    scan_export_max_rows: int = Field(
        default=100_000, gt=0, validation_alias="SPECIMEN_CLASSIFY_SCAN_EXPORT_MAX_ROWS")

    # Plankton projects: the bounds of one frame upload (issue 12). Files of a request and
    # members of a ZIP are judged one by one; an archive past these bounds is refused whole.
    frames_max_files: int = Field(default=1000, gt=0,
                                  validation_alias="SPECIMEN_CLASSIFY_FRAMES_MAX_FILES")
    frames_zip_max_members: int = Field(
        default=5000, gt=0, validation_alias="SPECIMEN_CLASSIFY_FRAMES_ZIP_MAX_MEMBERS")
    frames_zip_max_total_bytes: int = Field(
        default=4 * 1024**3, gt=0, validation_alias="SPECIMEN_CLASSIFY_FRAMES_ZIP_MAX_TOTAL_BYTES")
    frames_zip_max_member_bytes: int = Field(
        default=256 * 1024**2, gt=0,
        validation_alias="SPECIMEN_CLASSIFY_FRAMES_ZIP_MAX_MEMBER_BYTES")
    frames_zip_max_ratio: float = Field(
        default=100.0, gt=1, validation_alias="SPECIMEN_CLASSIFY_FRAMES_ZIP_MAX_RATIO")
    frames_metadata_max_bytes: int = Field(
        default=16 * 1024**2, gt=0, validation_alias="SPECIMEN_CLASSIFY_FRAMES_METADATA_MAX_BYTES")
    # Scan imports (POST /scans/imports): the bounds of one ZIP of MRI slices, judged as the
    # frames' archives are (an archive past them is refused whole, a member past them rejected).
    scan_import_max_members: int = Field(
        default=2000, gt=0, validation_alias="SPECIMEN_CLASSIFY_SCAN_IMPORT_MAX_MEMBERS")
    scan_import_max_total_bytes: int = Field(
        default=2 * 1024**3, gt=0, validation_alias="SPECIMEN_CLASSIFY_SCAN_IMPORT_MAX_TOTAL_BYTES")
    scan_import_max_member_bytes: int = Field(
        default=64 * 1024**2, gt=0, validation_alias="SPECIMEN_CLASSIFY_SCAN_IMPORT_MAX_MEMBER_BYTES")
    scan_import_max_ratio: float = Field(
        default=100.0, gt=1, validation_alias="SPECIMEN_CLASSIFY_SCAN_IMPORT_MAX_RATIO")
    scan_import_metadata_max_bytes: int = Field(
        default=4 * 1024**2, gt=0, validation_alias="SPECIMEN_CLASSIFY_SCAN_IMPORT_METADATA_MAX_BYTES")
    # Plankton trainings (POST /models/plankton/trainings): a category takes part with at least
    # this many validated objects, and a training needs two such categories.
    training_min_per_class: int = Field(
        default=10, ge=3, validation_alias="SPECIMEN_CLASSIFY_TRAINING_MIN_PER_CLASS")
    # Reviews: the most object ids one bulk annotation may name (one transaction).
    review_max_ids: int = Field(default=1000, gt=0,
                                validation_alias="SPECIMEN_CLASSIFY_REVIEW_MAX_IDS")

    # Similar-object and similar-scan search (issue 14): the most one search answers, and how
    # many projects' / hospitals' descriptors (rows in all) a replica keeps in memory between
    # searches (a scan's row is 48 floats, 192 bytes).
    object_search_max_limit: int = Field(
        default=100, ge=1, le=10_000, validation_alias="SPECIMEN_CLASSIFY_OBJECT_SEARCH_MAX_LIMIT")
    scan_search_max_limit: int = Field(
        default=100, ge=1, le=10_000, validation_alias="SPECIMEN_CLASSIFY_SCAN_SEARCH_MAX_LIMIT")
    object_search_cache_vectors: int = Field(
        default=1_000_000, ge=0, validation_alias="SPECIMEN_CLASSIFY_OBJECT_SEARCH_CACHE_VECTORS")
    scan_search_cache_vectors: int = Field(
        default=500_000, ge=0, validation_alias="SPECIMEN_CLASSIFY_SCAN_SEARCH_CACHE_VECTORS")

    # Jobs (plankton runs, exports): their queue in Redis (SPECIMEN_REDIS_URL) and the workers
    # (`python -m specimen_classify worker`).
    jobs_queue: str = Field(default="specimen-classify", min_length=1, max_length=100,
                            pattern=r"^[A-Za-z0-9_.:-]+$",
                            validation_alias="SPECIMEN_CLASSIFY_JOBS_QUEUE")
    # What sets this deployment's RQ queue and job ids apart from another's on the same Redis
    # (job ids are database row ids: two databases both have a task 1). Default: derived from
    # the database (its backend, host, port and name; no credentials), so API and workers that
    # reach the database under the same name agree without configuration.
    job_namespace: str | None = Field(default=None, min_length=1, max_length=24,
                                      pattern=r"^[A-Za-z0-9_.-]+$",
                                      validation_alias="SPECIMEN_CLASSIFY_JOB_NAMESPACE")
    # Worker processes one `worker` command runs (each works on one task at a time).
    worker_concurrency: int = Field(default=1, ge=1, le=64,
                                    validation_alias="SPECIMEN_CLASSIFY_WORKER_CONCURRENCY")
    # A running task writes a heartbeat every lease/4 seconds; one silent for a lease lost its
    # worker (killed, node gone) and is queued again by the reconciler.
    job_lease_seconds: float = Field(default=60.0, ge=1, le=3600,
                                     validation_alias="SPECIMEN_CLASSIFY_JOB_LEASE_SECONDS")
    # How often a worker compares the database's queued and lost tasks with Redis and
    # re-enqueues what Redis forgot (also once at start).
    job_reconcile_seconds: float = Field(default=15.0, ge=1, le=3600,
                                         validation_alias="SPECIMEN_CLASSIFY_JOB_RECONCILE_SECONDS")
    # Transient faults (database, Redis, disk) are retried this many times with exponential
    # backoff from job_retry_first_seconds; bad input (a frame that is not an image) never is.
    job_retries: int = Field(default=3, ge=0, le=20, validation_alias="SPECIMEN_CLASSIFY_JOB_RETRIES")
    job_retry_first_seconds: float = Field(
        default=2.0, gt=0, le=3600, validation_alias="SPECIMEN_CLASSIFY_JOB_RETRY_FIRST_SECONDS")
    # A task started this many times (lost workers, exhausted retries) fails for good.
    job_max_attempts: int = Field(default=5, ge=1, le=100,
                                  validation_alias="SPECIMEN_CLASSIFY_JOB_MAX_ATTEMPTS")
    # RQ's limit on one task (one frame): past it the work horse is killed and the task retried.
    job_task_timeout_seconds: int = Field(
        default=900, ge=10, le=86_400, validation_alias="SPECIMEN_CLASSIFY_JOB_TASK_TIMEOUT_SECONDS")
    # The most frames one run may take.
    run_max_frames: int = Field(default=100_000, ge=1, validation_alias="SPECIMEN_CLASSIFY_RUN_MAX_FRAMES")

    @property
    def resolved_database_url(self) -> str:
        """The scans' database URL, or the SQLite file in the data directory when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'classify.sqlite3').resolve()}"

    @field_validator("job_namespace", mode="before")
    @classmethod
    def _empty_namespace_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def resolved_job_namespace(self) -> str:
        """``job_namespace``, or ``db-`` and 12 hex digits of the database's identity."""
        if self.job_namespace:
            return self.job_namespace
        url = make_url(self.resolved_database_url)
        identity = f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database or ''}"
        return "db-" + hashlib.sha256(identity.encode()).hexdigest()[:12]

    @property
    def resolved_jobs_queue(self) -> str:
        """The RQ queue this deployment's API enqueues on and its workers work on."""
        return f"{self.jobs_queue}.{self.resolved_job_namespace}"

    @property
    def resolved_users_url(self) -> str:
        """``users_url``, or the origin of ``jwks_url`` (the users service publishes the JWKS)."""
        return self.users_url or urljoin(self.jwks_url, "/")

    @property
    def resolved_model_dir(self) -> Path:
        return self.model_dir if self.model_dir is not None else self.data_dir / "models"

    @property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir if self.blob_dir is not None else self.data_dir / "classify-blobs"
