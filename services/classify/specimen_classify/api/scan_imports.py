"""``POST /scans/imports``: a ZIP of MRI slices filed as scans of the caller's hospital, as a job.

202 + ``Location: /api/v1/jobs/{id}``; the ``scan-import`` job (one task per slice,
:mod:`specimen_classify.adapters.scan_imports`) files each slice as ``POST /scans`` would, with
the MRI model version active when the import was started. Anyone who may file a scan may
import; the job is visible to its creator, their hospital's moderators and admins (anyone else:
404). Without Redis the import answers 503 as a run does.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

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
from specimen_kit.errors import InvalidParameter, MalformedJson, UnsupportedMediaType
from specimen_kit.openapi_problems import documented_problem
from specimen_kit.security import CurrentPrincipal
from specimen_kit.storage import Blobs, DbSession
from specimen_kit.uploads import bounded_form, decode_base64

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
    "application/json": {"schema": {"type": "object", "required": ["archive"], "properties": {
        "archive": {"type": "string", "description": "The ZIP as base64 or a data URL."},
        "metadata": {"type": "string", "description": "The table as CSV or TSV text."},
        **{name: {"type": "string"} for name in ScanImportFields.model_fields}}}},
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


@dataclass
class _ImportBody:
    archive: IO[bytes] | None = None
    name: str = "archive.zip"
    tables: list[tuple[str, bytes]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    closers: list[Any] = field(default_factory=list)


def _spooled(body: _ImportBody, data: bytes) -> IO[bytes]:
    stream = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 (closed by the handler)
    stream.write(data)
    body.closers.append(stream)
    return stream


async def _read_body(request: Request, limits: ImportLimits) -> _ImportBody:
    """The archive, tables and fields of a multipart, JSON or ``application/zip`` request."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = _ImportBody()
    if content_type == "application/zip":
        body.archive = _spooled(body, await request.body())
    elif content_type == "application/json":
        try:
            document = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as error:
            raise MalformedJson(f"The request body is not valid JSON: {error}") from error
        if not isinstance(document, dict) or "archive" not in document:
            raise InvalidParameter("the JSON body must be an object with `archive` (the ZIP as base64 "
                                   "or a data URL)")
        body.archive = _spooled(body, decode_base64("archive", document.pop("archive")))
        table = document.pop("metadata", None)
        if table is not None:
            if not isinstance(table, str):
                raise InvalidParameter("metadata must be the CSV or TSV table as text")
            body.tables.append(("metadata.tsv" if "\t" in table.split("\n", 1)[0] else "metadata.csv",
                                table.encode()))
        body.fields = document
    elif content_type == "multipart/form-data":
        # One `archive` and one `metadata` part.
        form = await bounded_form(request, max_files=2, max_fields=20, files_limit=2)
        body.closers.append(form)
        for key, value in form.multi_items():
            if isinstance(value, str):
                if key in ("archive", "metadata"):
                    raise InvalidParameter(f"{key} must be a file part, not a form field")
                body.fields[key] = value
            elif key == "archive":
                body.archive, body.name = value.file, value.filename or body.name
            elif key == "metadata":
                data = await value.read(limits.max_metadata_bytes + 1)
                if len(data) > limits.max_metadata_bytes:
                    raise InvalidParameter(f"the metadata table is over {limits.max_metadata_bytes} bytes")
                body.tables.append((value.filename or "metadata.csv", data))
            else:
                raise InvalidParameter(f"{key} is not a file part of this route; send the ZIP as "
                                       "`archive` and a table as `metadata`")
    else:
        raise UnsupportedMediaType(f"content type {content_type or 'none'} is not read here; send "
                                   "multipart/form-data with an `archive` part, JSON {\"archive\": "
                                   "base64}, or the ZIP as application/zip")
    if body.archive is None:
        raise InvalidParameter("send the ZIP of slices as the `archive` file part")
    return body


@router.post(
    "/imports", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic, openapi_extra=_DOC,
    responses={413: documented_problem("The body is over SPECIMEN_MAX_BODY_BYTES."),
               415: documented_problem("Not multipart/form-data, JSON or application/zip."),
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
    body = _ImportBody()
    try:
        body = await _read_body(request, limits)
        try:
            defaults = ScanImportFields.model_validate(body.fields)
        except ValidationError as error:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]) from error
        directory = UsersHospitalDirectory(request.app.state.users_client,
                                           request.headers.get("authorization", ""))
        archive: IO[bytes] = body.archive  # type: ignore[assignment]  # _read_body saw to it
        job, task_ids = await run_in_threadpool(
            start_scan_import, session, blobs, caller, archive, body.name, body.tables,
            defaults.values(), limits, version, directory)
        await run_in_threadpool(session.commit)  # recorded before it is queued
        errors = await run_in_threadpool(job_tasks, session, job.id, statuses=("failed",),
                                         limit=MAX_ERRORS_SHOWN)
    finally:
        for closer in body.closers:
            result = closer.close()
            if hasattr(result, "__await__"):
                await result
    _enqueue(queue, task_ids)
    response.headers["Location"] = request.app.url_path_for("get_job", job_id=str(job.id))
    return JobPublic.of(job, errors)
