"""Runs and jobs: ``POST /projects/{id}/runs`` (202 + ``Location: /api/v1/jobs/{id}``),
``GET /projects/{id}/runs``, ``GET /jobs/{id}``, ``POST /jobs/{id}/cancel``, ``POST /jobs/{id}/retry``.

The work itself is done by RQ workers (``python -m specimen_classify worker``,
:mod:`specimen_classify.adapters.jobs`); these handlers record the job in the database, commit,
then enqueue its tasks (a Redis that is down then loses nothing: the workers' reconciler
enqueues the recorded tasks when it is back).

Who may do what: a project's runs are started by its managers (the owner, manager members,
admins) and listed by anyone who sees the project. A job is visible to whoever sees its
project, to its creator and to admins, and a scan import to its hospital's moderators too
(anyone else: 404, as for no job); cancel and retry need the project's manager role, or being
the job's creator, an admin, or (a scan import) a moderator of its hospital.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from specimen_classify.adapters.jobs import (
    JobQueue,
    JobRecord,
    TaskSpec,
    cancel_job,
    create_job,
    get_job,
    job_tasks,
    list_jobs,
    retry_job,
)
from specimen_classify.adapters.project_repository import SqlProjectRepository
from specimen_classify.adapters.tables import FrameRow, ProjectMemberRow, ProjectRow
from specimen_classify.api.deps import Settings, Store
from specimen_classify.api.job_schemas import MAX_ERRORS_SHOWN, JobPage, JobPublic, RunListQuery, RunRequest
from specimen_classify.domain.errors import ModelUnavailable, ProjectNotFound, ProjectRoleRequired
from specimen_classify.domain.jobs import JobNotFound, JobsUnavailable, NoFramesToRun, hospital_job_visible
from specimen_classify.domain.plankton.projects import ProjectRole, project_access
from specimen_classify.domain.plankton.runs import RunSettings, settings_hash
from specimen_classify.domain.predictions import PLANKTON_MODEL
from specimen_classify.domain.scans import own_hospital
from specimen_kit.errors import InvalidParameter
from specimen_kit.identifiers import RecordId
from specimen_kit.roles import Role
from specimen_kit.security import CurrentPrincipal
from specimen_kit.storage import DbSession
from specimen_kit.tokens import Principal

logger = logging.getLogger(__name__)


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


_COMMON: dict[int | str, dict[str, Any]] = {401: _problem("No valid bearer token."),
           422: _problem("A parameter or field is invalid (the problem names it).")}
projects_router = APIRouter(prefix="/projects", tags=["plankton runs"], responses=_COMMON)
router = APIRouter(prefix="/jobs", tags=["jobs"], responses={
    **_COMMON, 404: _problem("No such job among those you can see (job-not-found).")})


def _job_queue(request: Request) -> JobQueue:
    queue: JobQueue | None = getattr(request.app.state, "job_queue", None)
    if queue is None:
        raise JobsUnavailable("no Redis is configured for the jobs (SPECIMEN_REDIS_URL): runs cannot be "
                              "started on this deployment")
    return queue


Queue = Annotated[JobQueue, Depends(_job_queue)]


def _project_role(session: Session, caller: Principal, project_id: int) -> ProjectRole:
    project = session.get(ProjectRow, project_id)
    if project is None:
        raise ProjectNotFound(project_id)
    member = session.scalar(select(ProjectMemberRow.role).where(
        ProjectMemberRow.project_id == project_id, ProjectMemberRow.user_id == caller.user_id))
    role = project_access(caller, project, {caller.user_id: ProjectRole(member)} if member else {})
    if role is None:
        raise ProjectNotFound(project_id)
    return role


def _require_manager(role: ProjectRole) -> None:
    if not role.at_least(ProjectRole.MANAGER):
        raise ProjectRoleRequired(ProjectRole.MANAGER.value, role.value)


def _visible_job(session: Session, caller: Principal, job_id: int, *, to_change: bool = False) -> JobRecord:
    """The job when the caller may see it (and change it, with ``to_change``); else 404 / 403."""
    job = get_job(session, job_id)
    if job is None:
        raise JobNotFound(f"there is no job {job_id} among the jobs you can see", job_id=job_id)
    if caller.role is Role.ADMIN or job.created_by == caller.user_id:
        return job
    if hospital_job_visible(job.kind, job.hospital, caller.role, own_hospital(caller)):
        return job
    role: ProjectRole | None = None
    if job.project_id is not None:
        try:
            role = _project_role(session, caller, job.project_id)
        except ProjectNotFound:
            role = None
    if role is None:
        raise JobNotFound(f"there is no job {job_id} among the jobs you can see", job_id=job_id)
    if to_change:
        _require_manager(role)
    return job


def _public(session: Session, job: JobRecord) -> JobPublic:
    errors = job_tasks(session, job.id, statuses=("failed",), limit=MAX_ERRORS_SHOWN)
    return JobPublic.of(job, errors)


def _require_project_still_there(session: Session, project_id: int) -> None:
    """404 when the project was deleted after the caller's access was checked: its frames went
    with it, and that is not the caller's mistake (422) but the delete coming first. Each read
    sees what is committed when it runs (READ COMMITTED, SQLite outside a write), so the project
    is read again rather than trusted from the session."""
    if not SqlProjectRepository(session).project_exists(project_id):
        raise ProjectNotFound(project_id)


def _frames_to_run(session: Session, project_id: int, wanted: list[int] | None, most: int) -> list[int]:
    query = select(FrameRow.id).where(FrameRow.project_id == project_id)
    if wanted is None:
        found = list(session.scalars(query.order_by(FrameRow.id).limit(most + 1)))
        if not found:
            _require_project_still_there(session, project_id)
            raise NoFramesToRun(f"project {project_id} has no frames yet; upload some first")
    else:
        ordered = list(dict.fromkeys(wanted))
        found_set = set(session.scalars(query.where(FrameRow.id.in_(ordered))))
        missing = [frame_id for frame_id in ordered if frame_id not in found_set]
        if missing:
            _require_project_still_there(session, project_id)
            raise NoFramesToRun(f"frame_ids {missing[:20]} are not frames of project {project_id}",
                                frame_ids=missing[:100])
        found = ordered
    if len(found) > most:
        raise NoFramesToRun(f"a run takes at most {most} frames (SPECIMEN_CLASSIFY_RUN_MAX_FRAMES); "
                            "send frame_ids in batches")
    return found


def _run_settings(session: Session, project_id: int, body: RunRequest) -> RunSettings:
    """The project's default settings, overridden by the fields the run's body sets."""
    stored = session.scalar(select(ProjectRow.settings).where(ProjectRow.id == project_id)) or "{}"
    try:
        defaults = json.loads(stored)
    except ValueError:
        defaults = {}
    if not isinstance(defaults, dict):
        defaults = {}
    given = body.model_dump(exclude_unset=True, exclude={"frame_ids"})
    fields = RunSettings.model_fields
    merged = {name: value for name, value in {**defaults, **given}.items() if name in fields}
    return RunSettings.model_validate(merged)


def _enqueue(queue: JobQueue, task_ids: list[int], kind: str | None = None) -> None:
    try:
        queue.enqueue(task_ids, kind=kind, force=True)
    except Exception:  # recorded anyway: the workers' reconciler enqueues it when Redis is back
        logger.warning("enqueueing %d tasks failed; the reconciler will", len(task_ids), exc_info=True)


@projects_router.post(
    "/{project_id}/runs", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic,
    responses={403: _problem("Only the project's managers start runs (project-role-required)."),
               404: _problem("No such project among those you can see (project-not-found)."),
               503: _problem("No Redis for the jobs (jobs-unavailable), or no plankton model "
                             "(model-unavailable).", )},
    summary="Start a run: segment, measure and classify the project's frames on the workers")
def start_run(project_id: RecordId, body: RunRequest, caller: CurrentPrincipal, session: DbSession,
              queue: Queue, store: Store, settings: Settings, request: Request,
              response: Response) -> JobPublic:
    _require_manager(_project_role(session, caller, project_id))
    run = _run_settings(session, project_id, body)
    version = run.model_version
    if version is None:
        version = store.active_version(PLANKTON_MODEL)
        if version is None:
            raise ModelUnavailable("no plankton model version is active; train one (python -m "
                                   "specimen_classify bootstrap-models) or name model_version")
    elif version not in store.versions(PLANKTON_MODEL):
        raise InvalidParameter(f"model_version {version}: the plankton model has no such version "
                               "(GET /api/v1/models/plankton lists them)")
    params = run.model_copy(update={"model_version": version}).model_dump(mode="json")
    frames = _frames_to_run(session, project_id, body.frame_ids, settings.run_max_frames)
    job, task_ids = create_job(session, kind="plankton-run", project_id=project_id,
                               created_by=caller.user_id, hospital=caller.hospital, params=params,
                               params_hash=settings_hash(params),
                               tasks=[TaskSpec(frame_id=frame_id) for frame_id in frames])
    session.commit()  # recorded before it is queued: Redis never holds a task the database lacks
    _enqueue(queue, task_ids)
    response.headers["Location"] = request.app.url_path_for("get_job", job_id=str(job.id))
    return _public(session, job)


@projects_router.get("/{project_id}/runs", response_model=JobPage,
                     responses={404: _problem("No such project among those you can see.")},
                     summary="The project's runs, newest first")
def list_runs(project_id: RecordId, query: Annotated[RunListQuery, Query()], caller: CurrentPrincipal,
              session: DbSession) -> JobPage:
    _project_role(session, caller, project_id)
    jobs, total = list_jobs(session, project_id=project_id, kind="plankton-run", limit=query.limit,
                            offset=query.offset)
    return JobPage(items=[_public(session, job) for job in jobs], total=total, limit=query.limit,
                   offset=query.offset)


@router.get("/{job_id}", response_model=JobPublic, name="get_job",
            summary="A job's status, progress, timestamps and errors")
def get_job_route(job_id: RecordId, caller: CurrentPrincipal, session: DbSession) -> JobPublic:
    return _public(session, _visible_job(session, caller, job_id))


@router.post("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic,
             responses={403: _problem("Only the project's managers, the job's creator and admins cancel.")},
             summary="Cancel a job: queued tasks at once, running ones between their steps")
def cancel_job_route(job_id: RecordId, caller: CurrentPrincipal, session: DbSession,
                     request: Request) -> JobPublic:
    _visible_job(session, caller, job_id, to_change=True)
    job, cancelled = cancel_job(session, job_id)
    session.commit()
    queue: JobQueue | None = getattr(request.app.state, "job_queue", None)
    if queue is not None and cancelled:
        try:
            queue.cancel(cancelled)
        except Exception:  # a cancelled task that runs anyway is skipped by its worker
            logger.warning("taking job %s's tasks off the queue failed", job_id, exc_info=True)
    return _public(session, job)


@router.post("/{job_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic,
             responses={403: _problem("Only the project's managers, the job's creator and admins retry."),
                        409: _problem("The job is still running, or has nothing to retry "
                                      "(job-not-retryable).")},
             summary="Run a finished job's failed and cancelled tasks again")
def retry_job_route(job_id: RecordId, caller: CurrentPrincipal, session: DbSession,
                    queue: Queue) -> JobPublic:
    _visible_job(session, caller, job_id, to_change=True)
    job, task_ids = retry_job(session, job_id)
    session.commit()
    _enqueue(queue, task_ids, job.kind)  # a training again on the training lane
    return _public(session, job)
