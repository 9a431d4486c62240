"""The ``scan-import`` job kind: a ZIP of MRI slices filed as scans, one task per slice.

:func:`start_scan_import` (the route's work) judges the archive with the frames' reader
(:func:`~specimen_classify.domain.plankton.frame_import.add_archive`: refused whole, or members
rejected one by one), reads the metadata tables, asks the users service once per hospital an
admin named, stores the archive as one blob and records the job: one task per member, the
rejected ones recorded failed with their reason. Nothing is decoded in the request.

:func:`run_scan_import` (a worker's task) reads its member from the archive blob and files it
with :meth:`~specimen_classify.domain.scans.ScanRecords.create` on its own unit of work, with
the MRI model version resolved when the job was created: the same checks, classification and
storage as ``POST /scans``. The scan keeps the task's id (unique), so a task run again after
its worker was lost finds the scan it filed instead of filing another.

The archive blob is kept while its job may still run a member (open, or with failed or
cancelled tasks that ``POST /jobs/{id}/retry`` would run); ``sweep-orphans`` removes it once
the job has filed every member (:func:`import_blob_keys`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from specimen_classify.adapters.jobs import (
    JobRecord,
    TaskContext,
    TaskOutcome,
    TaskRecord,
    TaskSpec,
    create_job,
    register_job_kind,
)
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.mri_images import read_mri
from specimen_classify.adapters.mri_runtime import LiteRtMriModel
from specimen_classify.adapters.scan_descriptor_repository import SqlScanDescriptorRepository
from specimen_classify.adapters.scan_repository import SqlScanRepository
from specimen_classify.adapters.tables import JobRow
from specimen_classify.domain.errors import ImportMemberRejected, NoScansToImport
from specimen_classify.domain.jobs import JobKind
from specimen_classify.domain.plankton.frame_import import Candidate, ImportLimits, Upload, add_archive
from specimen_classify.domain.predictions import MRI_MODEL, ModelVersion
from specimen_classify.domain.scan_imports import fields_of, read_scan_table, scan_upload_of
from specimen_classify.domain.scans import HospitalDirectory, ScanRecords, own_hospital
from specimen_kit.blobs import BlobMissing, FilesystemBlobStore, StagedBlobs
from specimen_kit.errors import Problem
from specimen_kit.hospitals import hospital_slug
from specimen_kit.roles import Role
from specimen_kit.timestamps import utc_now

IMPORT_KIND: JobKind = "scan-import"
MAX_ITEM_CHARS = 255


@dataclass(frozen=True)
class ImportCaller:
    """Who started the import, as the job recorded them (the worker has no token)."""

    user_id: int
    role: Role
    hospital: str


class KnownHospitals:
    """The hospitals the users service confirmed when the import was started: the worker's
    :class:`~specimen_classify.domain.scans.HospitalDirectory` (it holds no token to ask)."""

    def __init__(self, known: Iterable[str]) -> None:
        self._known = set(known)

    def exists(self, hospital_id: str) -> bool:
        return hospital_id in self._known


# --- starting an import (the route) --------------------------------------------------------


def _confirmed_hospitals(caller: Any, named: Iterable[str], directory: HospitalDirectory) -> list[str]:
    """The hospitals an admin named that the users service knows (asked once each)."""
    if caller.role is not Role.ADMIN:
        return []
    own = own_hospital(caller)
    confirmed = []
    for name in sorted(set(named)):
        try:
            slug = hospital_slug(name)
        except Problem:
            continue  # the slice's task fails with the reason
        if slug != own and slug not in confirmed and directory.exists(slug):
            confirmed.append(slug)
    return confirmed


def start_scan_import(session: Session, blobs: StagedBlobs, caller: Any, archive: IO[bytes],
                      archive_name: str, tables: list[tuple[str, bytes]], defaults: dict[str, str | None],
                      limits: ImportLimits, model_version: int,
                      directory: HospitalDirectory) -> tuple[JobRecord, list[int]]:
    """Judge the archive and record the import job (flushed, not committed); the job and the
    task ids to enqueue after the commit.

    Raises
    ------
    ArchiveRefused
        Not a readable ZIP, or past the limits as a whole.
    InvalidScanTable
        A metadata table is unusable.
    NoScansToImport
        No member of the archive can become a scan.
    """
    upload = Upload()
    add_archive(upload, archive_name, archive, limits)
    rows: dict[str, dict[str, str]] = {}
    table_problems: list[dict[str, str]] = []
    for name, data in [*tables, *upload.tables]:
        table = read_scan_table(name, data)
        table_problems.extend({"row": row, "reason": reason} for row, reason in table.problems)
        for file_name, values in table.rows.items():
            rows.setdefault(file_name, values)
    members = [candidate.member.filename for candidate in upload.candidates if candidate.member is not None]
    rejected = {r.file_name[:MAX_ITEM_CHARS]: r.reason for r in upload.rejected}
    tasks = [TaskSpec(item=item, error=reason) for item, reason in rejected.items()]
    fields: dict[str, dict[str, str]] = {}
    for member in members:
        if len(member) > MAX_ITEM_CHARS:
            rejected[member[:MAX_ITEM_CHARS]] = f"its path is longer than {MAX_ITEM_CHARS} characters"
            tasks.append(TaskSpec(item=member[:MAX_ITEM_CHARS], error=rejected[member[:MAX_ITEM_CHARS]]))
            continue
        fields[member] = fields_of(member, rows)
        tasks.append(TaskSpec(item=member))
    if not fields:
        raise NoScansToImport(f"the archive {archive_name!r} holds no slice to import; `rejected` says "
                              "why for each member", rejected=[{"file_name": item, "reason": reason}
                                                               for item, reason in rejected.items()])
    matched = set(fields) | {member.rsplit("/", 1)[-1] for member in fields}
    named = [value["hospital"] for value in fields.values() if value.get("hospital")]
    if defaults.get("hospital"):
        named.append(str(defaults["hospital"]))
    with tempfile.NamedTemporaryFile(prefix="specimen-import-") as spooled:
        archive.seek(0)
        shutil.copyfileobj(archive, spooled, 1 << 20)
        spooled.flush()
        key = blobs.put_file(Path(spooled.name))
    params: dict[str, Any] = {
        "archive": {"blob_key": key, "name": archive_name},
        "model_version": model_version,
        "caller_role": caller.role.value,
        "defaults": {name: value for name, value in defaults.items() if value},
        "fields": {member: values for member, values in fields.items() if values},
        "rejected": rejected,
        "hospitals": _confirmed_hospitals(caller, named, directory),
        "unmatched": sorted(name for name in rows if name not in matched),
        "table_problems": table_problems,
    }
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    return create_job(session, kind=IMPORT_KIND, project_id=None, created_by=caller.user_id,
                      hospital=own_hospital(caller), params=params, params_hash=digest, tasks=tasks)


# --- running one member (a worker's task) ---------------------------------------------------


class MriModels:
    """MRI model versions loaded once per process (the worker loads the active one before
    forking, so each work horse has it without reading the store)."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self._loaded: dict[int, LiteRtMriModel] = {}
        self._lock = threading.Lock()

    def get(self, version: int) -> LiteRtMriModel:
        with self._lock:
            if version not in self._loaded:
                self._loaded[version] = LiteRtMriModel.load(self.store.version_dir(MRI_MODEL, version),
                                                            ModelVersion(MRI_MODEL, version))
            return self._loaded[version]

    def preload_active(self) -> int | None:
        version = self.store.active_version(MRI_MODEL)
        if version is not None:
            self.get(version)
        return version


def _mri_models(context: TaskContext) -> MriModels:
    extras = context.resources.extras
    if "mri_models" not in extras:
        extras["mri_models"] = MriModels(ModelStore(context.settings.resolved_model_dir))
    models: MriModels = extras["mri_models"]
    return models


def _member_bytes(store: FilesystemBlobStore, key: str, member: str, max_bytes: int) -> bytes:
    try:
        blob = store.open(key)
    except (BlobMissing, FileNotFoundError) as error:
        raise ImportMemberRejected("the import's archive is no longer stored") from error
    with blob, zipfile.ZipFile(blob) as archive:
        try:
            info = archive.getinfo(member)
        except KeyError as error:
            raise ImportMemberRejected("not in the import's archive") from error
        try:
            return Candidate(member, None, archive, info).read(max_bytes)
        except ValueError as error:
            raise ImportMemberRejected(str(error)) from error


def run_scan_import(context: TaskContext, job: JobRecord, task: TaskRecord) -> TaskOutcome:
    """File one member of the archive as a scan (a ``scan-import`` task)."""
    params = job.params
    member = task.item or ""
    if member in params.get("rejected", {}):
        raise ImportMemberRejected(params["rejected"][member])
    settings = context.settings
    store = FilesystemBlobStore(settings.resolved_blob_dir)
    data = _member_bytes(store, params["archive"]["blob_key"], member, settings.scan_import_max_member_bytes)
    model = _mri_models(context).get(int(params["model_version"]))
    caller = ImportCaller(job.created_by, Role(params["caller_role"]), job.hospital or "")
    upload = scan_upload_of(data, params.get("fields", {}).get(member, {}), params.get("defaults", {}),
                            import_task_id=task.id)
    context.checkpoint()
    staged = StagedBlobs(store)
    with context.session() as session:
        records = ScanRecords(
            SqlScanRepository(session), staged,
            read_image=partial(read_mri, max_pixels=settings.max_image_pixels), clock=utc_now,
            hospitals=KnownHospitals(params.get("hospitals", [])),
            descriptors=SqlScanDescriptorRepository(session),
            notes_max_chars=settings.scan_notes_max_chars,
            patient_ref_max_chars=settings.scan_patient_ref_max_chars,
            export_max_rows=settings.scan_export_max_rows)
        try:
            scan = records.create(caller, upload, model)
            session.commit()
        except sa_exc.IntegrityError:
            # Another delivery of this task filed it meanwhile (the unique import_task_id).
            session.rollback()
            staged.discard_written()
            scan = records.create(caller, upload, model)
        except BaseException:
            session.rollback()
            staged.discard_written()
            raise
    return TaskOutcome(objects=1 if scan is not None else 0)


def import_blob_keys(session: Session) -> set[str]:
    """The archives of scan imports that may still run a member (``sweep-orphans`` keeps them):
    every import but those that succeeded with every member filed."""
    keys: set[str] = set()
    rows = session.execute(select(JobRow.params, JobRow.status, JobRow.done, JobRow.total)
                           .where(JobRow.kind == IMPORT_KIND))
    for params, status, done, total in rows:
        if status == "succeeded" and done == total:
            continue
        key = json.loads(params).get("archive", {}).get("blob_key")
        if key:
            keys.add(key)
    return keys


register_job_kind(IMPORT_KIND, run_scan_import)
