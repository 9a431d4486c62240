"""Starting an export job and finding its file: the use-cases behind the ``/exports`` routes.

Who may: a viewer of the project (export is reading); anyone else gets 404 for the project and
for its export jobs alike. Starting records the job and its one task (flushed; the request's
unit of work commits) and returns the task ids to enqueue once committed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from specimen_classify.adapters.ecotaxa_exports import EXPORT_KIND
from specimen_classify.adapters.jobs import JobRecord, TaskSpec, create_job, get_job, job_tasks
from specimen_classify.adapters.tables import ProjectMemberRow, ProjectRow
from specimen_classify.domain.errors import ProjectNotFound
from specimen_classify.domain.plankton.ecotaxa import ExportNotFound, ExportNotReady
from specimen_classify.domain.plankton.projects import ProjectCaller, ProjectRole, project_access


def caller_role(session: Session, caller: ProjectCaller, project_id: int) -> ProjectRole | None:
    """The caller's role in the project, None when they may not see it (or it does not exist)."""
    project = session.get(ProjectRow, project_id)
    if project is None:
        return None
    rows = session.execute(select(ProjectMemberRow.user_id, ProjectMemberRow.role)
                           .where(ProjectMemberRow.project_id == project_id))
    members = {user_id: ProjectRole(role) for user_id, role in rows}
    return project_access(caller, project, members)


@dataclass(frozen=True)
class ExportParams:
    format: str
    status: Sequence[str]
    category: Sequence[str]

    def as_json(self) -> dict[str, Any]:
        return {"format": self.format, "status": sorted(self.status), "category": sorted(self.category)}


def start_export(session: Session, caller: ProjectCaller, project_id: int,
                 params: ExportParams) -> tuple[JobRecord, list[int]]:
    """Record an export job of the project (one task); the job and the task ids to enqueue.

    Raises
    ------
    ProjectNotFound
        No such project, or the caller is no member of it (404).
    """
    if caller_role(session, caller, project_id) is None:
        raise ProjectNotFound(project_id)
    stored = params.as_json()
    digest = hashlib.sha256(json.dumps(stored, sort_keys=True).encode()).hexdigest()
    return create_job(session, kind=EXPORT_KIND, project_id=project_id, created_by=caller.user_id,
                      hospital=None, params=stored, params_hash=digest, tasks=[TaskSpec(item="export")])


def visible_export(session: Session, caller: ProjectCaller, job_id: int) -> JobRecord:
    """The export job, when the caller may see its project.

    Raises
    ------
    ExportNotFound
        No export job of that id in a project the caller sees (404).
    """
    job = get_job(session, job_id)
    if job is None or job.kind != EXPORT_KIND or job.project_id is None \
            or caller_role(session, caller, job.project_id) is None:
        raise ExportNotFound(f"no export {job_id} in a project you can see")
    return job


def export_error(session: Session, job: JobRecord) -> str | None:
    """The reason its task failed, when it did."""
    failed = job_tasks(session, job.id, statuses=["failed"], limit=1)
    return failed[0].error if failed else None


def export_file(session: Session, caller: ProjectCaller, job_id: int) -> dict[str, Any]:
    """The finished export's ``result`` (blob key, file name, media type, size).

    Raises
    ------
    ExportNotFound
        (404) as :func:`visible_export`.
    ExportNotReady
        The job is still queued or running, or ended without a file (409).
    """
    job = visible_export(session, caller, job_id)
    if job.status != "succeeded" or not job.result or "blob_key" not in job.result:
        detail = f"export {job_id} is {job.status}"
        if job.status in ("queued", "running"):
            detail += "; poll GET /api/v1/exports/{id} until it has succeeded".replace("{id}", str(job_id))
        elif error := (job.error or export_error(session, job)):
            detail += f": {error}"
        raise ExportNotReady(detail, job_status=job.status)
    return job.result
