"""The ``ecotaxa-export`` job kind: a project's objects as an EcoTaxa ZIP or a plain CSV blob.

One task per export. The task streams the matching objects (:mod:`.ecotaxa_export_repository`)
into a temporary file (the ZIP: ``ecotaxa_<project>.tsv`` and each crop PNG beside it; or the
CSV), copies it into the blob store in chunks and returns the blob's key in the job's
``result``; ``GET /exports/{job id}/content`` streams it back. Memory stays one batch of rows
and one crop whatever the project's size.

The job's ``params`` are the request's: ``format`` (``ecotaxa`` | ``csv``) and the review list's
filters ``status`` and ``category`` (lists, empty: all). The ``process_*`` columns are the
settings of the runs that made the exported objects (their jobs' ``params``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from specimen_classify.adapters.ecotaxa_archive import tsv_name_of, write_ecotaxa_zip, write_plain_csv
from specimen_classify.adapters.ecotaxa_export_repository import (
    ExportFilters,
    export_feature_names,
    export_job_ids,
    export_project,
    export_rows,
)
from specimen_classify.adapters.jobs import JobRecord, TaskContext, TaskOutcome, TaskRecord, register_job_kind
from specimen_classify.adapters.tables import JobRow
from specimen_classify.domain.jobs import JobKind
from specimen_classify.domain.plankton.ecotaxa import EcotaxaLayout, EcotaxaRow, plain_csv, process_fields
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.errors import Problem

EXPORT_KIND: JobKind = "ecotaxa-export"
MEDIA_TYPES = {"ecotaxa": "application/zip", "csv": "text/csv; charset=utf-8"}


class ExportProjectGone(Problem):
    """The project of an export job was deleted before the export ran (422)."""

    status = 422
    title = "Export project gone"
    slug = "export-project-gone"


def export_file_name(project_name: str, project_id: int, export_format: str) -> str:
    """``ecotaxa_<project>.zip`` or ``<project>_objects.csv``.

    >>> export_file_name("Cruise 42", 3, "ecotaxa"), export_file_name("Cruise 42", 3, "csv")
    ('ecotaxa_cruise_42.zip', 'cruise_42_objects.csv')
    """
    stem = tsv_name_of(project_name, project_id).removesuffix(".tsv")
    return f"{stem}.zip" if export_format == "ecotaxa" else f"{stem.removeprefix('ecotaxa_')}_objects.csv"


def run_settings(session: Session, job_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The stored settings of the runs ``job_ids`` (what made the exported objects)."""
    if not job_ids:
        return {}
    rows = session.execute(select(JobRow.id, JobRow.params).where(JobRow.id.in_(job_ids)))
    return {job_id: json.loads(params) for job_id, params in rows}


CHECKPOINT_EVERY = 5000
"""Rows between two cancellation checks of a running export."""


def write_export(session: Session, blobs: FilesystemBlobStore, project_id: int, export_format: str,
                 filters: ExportFilters, spool_dir: Path | None = None,
                 checkpoint: Callable[[], None] | None = None) -> dict[str, Any]:
    """Write one export into the blob store; the job's ``result`` (key, name, type, size, count).

    ``checkpoint`` is called every :data:`CHECKPOINT_EVERY` rows (a cancelled job raises there).

    Raises
    ------
    ExportProjectGone
        The project was deleted.
    EcotaxaRowInvalid, EcotaxaColumnInvalid
        An object EcoTaxa would refuse (the job fails with the reason).
    """
    project = export_project(session, project_id)
    if project is None:
        raise ExportProjectGone(f"project {project_id} was deleted before its export ran")
    settings = run_settings(session, export_job_ids(session, project_id, filters))
    layout = EcotaxaLayout(project=project, feature_names=export_feature_names(session, project_id, filters),
                           process_settings=process_fields(settings.values()))
    crops: dict[int, str | None] = {}
    with tempfile.NamedTemporaryFile(dir=spool_dir, prefix="specimen-export-") as target:
        def checked() -> Iterator[tuple[EcotaxaRow, str | None]]:
            for index, pair in enumerate(export_rows(session, project_id, filters, settings), start=1):
                if checkpoint is not None and index % CHECKPOINT_EVERY == 0:
                    checkpoint()
                yield pair

        rows = checked()
        if export_format == "ecotaxa":

            def only_rows() -> Iterator[EcotaxaRow]:
                for row, crop_key in rows:
                    crops[row.object_pk] = crop_key
                    yield row

            def crop_of(row: EcotaxaRow) -> bytes:
                key = crops.pop(row.object_pk)
                return blobs.get(key) if key else b""

            summary = write_ecotaxa_zip(target, only_rows(), layout, crop_of,
                                        spool_dir=str(spool_dir) if spool_dir else None)
            objects = summary.objects
        else:
            counted = 0

            def counted_rows() -> Iterator[EcotaxaRow]:
                nonlocal counted
                for row, _ in rows:
                    counted += 1
                    yield row

            write_plain_csv(target, plain_csv(counted_rows(), layout))
            objects = counted
        target.flush()
        size = target.tell()
        key = blobs.put_file(Path(target.name))
    return {"blob_key": key, "format": export_format, "media_type": MEDIA_TYPES[export_format],
            "file_name": export_file_name(project.name, project.id, export_format), "bytes": size,
            "objects": objects}


def run_export(context: TaskContext, job: JobRecord, task: TaskRecord) -> TaskOutcome:
    """Write the export of ``job`` (an ``ecotaxa-export`` task)."""
    if job.project_id is None:
        raise ExportProjectGone(f"export job {job.id} names no project")
    params = job.params
    filters = ExportFilters(statuses=params.get("status") or None, categories=params.get("category") or None)
    blobs = FilesystemBlobStore(context.settings.resolved_blob_dir)
    with context.session() as session:
        result = write_export(session, blobs, job.project_id, params.get("format", "ecotaxa"), filters,
                              spool_dir=context.settings.resolved_blob_dir, checkpoint=context.checkpoint)
    return TaskOutcome(objects=int(result["objects"]), result=result)


def export_blob_keys(session: Session) -> set[str]:
    """The blob keys export jobs' results reference (``sweep-orphans`` keeps them)."""
    keys: set[str] = set()
    for result in session.scalars(select(JobRow.result).where(JobRow.kind == EXPORT_KIND,
                                                             JobRow.result.is_not(None))):
        key = json.loads(result).get("blob_key") if result else None
        if key:
            keys.add(key)
    return keys


register_job_kind(EXPORT_KIND, run_export)
