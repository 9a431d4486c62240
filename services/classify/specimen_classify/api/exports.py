"""``/projects/{id}/exports`` and ``/exports``: EcoTaxa (ZIP) and CSV exports of a project, as jobs.

===========================================  ===================================================
route                                        what
===========================================  ===================================================
``POST /projects/{id}/exports``              202 + ``Location: /api/v1/jobs/{job}`` (as a run);
                                             the ``ecotaxa-export`` job runs on a worker
``GET /exports/{job}``                       the export's status and, once it succeeded, its
                                             ``content_url`` (``GET /jobs/{job}`` shows the job)
``GET /exports/{job}/content``               the file, streamed (409 until it has succeeded)
===========================================  ===================================================

Any member of the project (viewer and up) may export; anyone else gets 404. Without Redis
(``SPECIMEN_REDIS_URL``) the export answers 503 as a run does. The job's task is enqueued after
the response (so after the commit); a Redis that is away then loses nothing, the workers'
reconciler enqueues it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, BinaryIO

from fastapi import APIRouter, BackgroundTasks, Request, Response, status
from fastapi.responses import StreamingResponse

from specimen_classify.adapters.export_service import (
    ExportParams,
    export_error,
    export_file,
    start_export,
    visible_export,
)
from specimen_classify.adapters.jobs import JobQueue
from specimen_classify.api.export_schemas import ExportCreate, ExportPublic
from specimen_classify.api.jobs import Queue
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.downloads import content_disposition
from specimen_kit.identifiers import RecordId
from specimen_kit.security import CurrentPrincipal
from specimen_kit.storage import DbSession

logger = logging.getLogger(__name__)
router = APIRouter(tags=["exports"])
CHUNK = 1 << 16


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _enqueue(queue: JobQueue, task_ids: list[int]) -> None:
    # After the response, so after the commit. ``force``: the task is new, whatever Redis still
    # holds under its id (RQ ids derive from task ids) is not this task.
    try:
        queue.enqueue(task_ids, force=True)
    except Exception:  # recorded anyway: the workers' reconciler enqueues it when Redis is back
        logger.warning("enqueueing export tasks %s failed; the reconciler will", task_ids, exc_info=True)


@router.post("/projects/{project_id}/exports", status_code=status.HTTP_202_ACCEPTED,
             response_model=ExportPublic, responses={404: _problem("No such project visible to you."),
                                                     503: _problem("No Redis for the jobs.")})
def create_export(project_id: RecordId, body: ExportCreate, caller: CurrentPrincipal, session: DbSession,
                  queue: Queue, response: Response, background: BackgroundTasks) -> ExportPublic:
    """Start an export job of the project's objects (filtered as the review list)."""
    job, task_ids = start_export(session, caller, project_id,
                                 ExportParams(body.format, body.status, body.category))
    background.add_task(_enqueue, queue, task_ids)
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return ExportPublic.of(job)


@router.get("/exports/{export_id}", response_model=ExportPublic,
            responses={404: _problem("No such export visible to you.")})
def read_export(export_id: RecordId, caller: CurrentPrincipal, session: DbSession) -> ExportPublic:
    """The export job's status; ``content_url`` once its file is written."""
    job = visible_export(session, caller, export_id)
    return ExportPublic.of(job, export_error(session, job))


def _chunks(blob: BinaryIO) -> Iterator[bytes]:
    with blob:
        while chunk := blob.read(CHUNK):
            yield chunk


@router.get("/exports/{export_id}/content", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {}, "text/csv": {}}, "description": "The file."},
                       404: _problem("No such export visible to you."),
                       409: _problem("The export has not succeeded (yet).")})
def export_content(export_id: RecordId, caller: CurrentPrincipal, session: DbSession,
                   request: Request) -> StreamingResponse:
    """The export's file (ZIP or CSV), streamed in chunks."""
    result = export_file(session, caller, export_id)
    store: FilesystemBlobStore = request.app.state.blob_store
    # Opened before the status line goes out: a file gone from the store is a 410 problem
    # (blob-missing), not a 200 cut off mid-stream.
    blob = store.open(result["blob_key"])
    return StreamingResponse(_chunks(blob), media_type=result["media_type"],
                             headers={"Content-Disposition": content_disposition(result["file_name"]),
                                      "Content-Length": str(result["bytes"])})
