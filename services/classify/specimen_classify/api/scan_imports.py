"""``POST /scans/imports``: a ZIP of MRI slices filed as scans of the caller's hospital, as a job.

202 + ``Location: /api/v1/jobs/{id}``; the ``scan-import`` job (one task per slice,
:mod:`specimen_classify.adapters.scan_imports`) files each slice as ``POST /scans`` would, with
the MRI model version active when the import was started. Anyone who may file a scan may
import; the job is visible to its creator, their hospital's moderators and admins (anyone else:
404). Without Redis the import answers 503 as a run does.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from specimen_classify.adapters.hospital_directory import UsersHospitalDirectory
from specimen_classify.adapters.jobs import JobQueue, job_tasks
from specimen_classify.adapters.scan_imports import start_scan_import
from specimen_classify.api.deps import Settings, Store
from specimen_classify.api.job_schemas import MAX_ERRORS_SHOWN, JobPublic
from specimen_classify.api.jobs import Queue
from specimen_classify.api.scan_schemas import ScanImportFields
from specimen_classify.config import ClassifySettings
from specimen_classify.domain.errors import ModelUnavailable
from specimen_classify.domain.plankton.frame_import import ImportLimits
from specimen_classify.domain.predictions import MRI_MODEL
from specimen_kit.errors import InvalidParameter, UnsupportedMediaType
from specimen_kit.openapi_problems import documented_problem
from specimen_kit.security import CurrentPrincipal
from specimen_kit.storage import Blobs, DbSession

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/scans", tags=["MRI scans"])

_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["archive"], "properties": {
        "archive": {"type": "string", "format": "binary",
                    "description": "A ZIP of slices (PNG, JPEG, TIFF or DICOM), with a CSV/TSV "
                                   "inside if you like."},
        "metadata": {"type": "string", "format": "binary",
                     "description": "A CSV or TSV, one row per slice: file_name, patient_ref, "
                                    "patient_gender, true_label, notes, hospital (admins)."},
        **{name: {"type": "string", "description": str(field.description or name)}
           for name, field in ScanImportFields.model_fields.items()},
    }}},
    "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}


def scan_import_limits(settings: ClassifySettings) -> ImportLimits:
    return ImportLimits(max_files=settings.scan_import_max_members,
                        max_members=settings.scan_import_max_members,
                        max_total_bytes=settings.scan_import_max_total_bytes,
                        max_member_bytes=settings.scan_import_max_member_bytes,
                        max_ratio=settings.scan_import_max_ratio,
                        max_metadata_bytes=settings.scan_import_metadata_max_bytes)


def _enqueue(queue: JobQueue, task_ids: list[int]) -> None:
    try:
        queue.enqueue(task_ids, force=True)
    except Exception:  # recorded anyway: the workers' reconciler enqueues it when Redis is back
        logger.warning("enqueueing %d import tasks failed; the reconciler will", len(task_ids), exc_info=True)


@router.post(
    "/imports", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic, openapi_extra=_DOC,
    responses={413: documented_problem("The body is over SPECIMEN_MAX_BODY_BYTES."),
               415: documented_problem("Not multipart/form-data or application/zip."),
               422: documented_problem("The archive is refused whole (archive-refused), its table is "
                                       "unusable (invalid-scan-table), it holds no slice "
                                       "(no-scans-to-import), or a field is invalid."),
               503: documented_problem("No Redis for the jobs (jobs-unavailable), or no MRI model "
                                       "(model-unavailable).")},
    summary="Import a ZIP of MRI slices as scans of your hospital: a job that classifies and files "
            "each slice as POST /scans does")
async def import_scans(request: Request, caller: CurrentPrincipal, session: DbSession, blobs: Blobs,
                       queue: Queue, store: Store, settings: Settings, response: Response) -> JobPublic:
    version = store.active_version(MRI_MODEL)
    if version is None:
        raise ModelUnavailable("no MRI model version is active; train one (python -m specimen_classify "
                               "bootstrap-models)")
    limits = scan_import_limits(settings)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    tables: list[tuple[str, bytes]] = []
    fields: dict[str, Any] = {}
    form = None
    archive: Any = None
    try:
        if content_type == "application/zip":
            archive = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 (closed below)
            async for chunk in request.stream():
                archive.write(chunk)
            name = "archive.zip"
        elif content_type == "multipart/form-data":
            form = await request.form(max_files=2, max_fields=20)
            name = "archive.zip"
            for key, value in form.multi_items():
                if isinstance(value, str):
                    if key in ("archive", "metadata"):
                        raise InvalidParameter(f"{key} must be a file part, not a form field")
                    fields[key] = value
                elif key == "archive":
                    archive, name = value.file, value.filename or name
                elif key == "metadata":
                    data = value.file.read(limits.max_metadata_bytes + 1)
                    if len(data) > limits.max_metadata_bytes:
                        raise InvalidParameter(
                            f"the metadata table is over {limits.max_metadata_bytes} bytes")
                    tables.append((value.filename or "metadata.csv", data))
                else:
                    raise InvalidParameter(f"{key} is not a file part of this route; send the ZIP as "
                                           "`archive` and a table as `metadata`")
            if archive is None:
                raise InvalidParameter("send the ZIP of slices as the `archive` file part")
        else:
            raise UnsupportedMediaType(f"content type {content_type or 'none'} is not read here; send "
                                       "multipart/form-data with an `archive` part, or the ZIP as "
                                       "application/zip")
        try:
            defaults = ScanImportFields.model_validate(fields)
        except ValidationError as error:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from error
        directory = UsersHospitalDirectory(request.app.state.users_client,
                                           request.headers.get("authorization", ""))
        job, task_ids = await run_in_threadpool(
            start_scan_import, session, blobs, caller, archive, name, tables, defaults.values(), limits,
            version, directory)
        await run_in_threadpool(session.commit)  # recorded before queued
        errors = await run_in_threadpool(job_tasks, session, job.id, statuses=("failed",),
                                         limit=MAX_ERRORS_SHOWN)
    finally:
        if form is not None:
            await form.close()
        elif archive is not None:
            archive.close()
    _enqueue(queue, task_ids)
    response.headers["Location"] = request.app.url_path_for("get_job", job_id=str(job.id))
    return JobPublic.of(job, errors)
