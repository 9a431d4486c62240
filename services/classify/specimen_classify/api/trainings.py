"""``POST /models/plankton/trainings``: train a new forest version from projects' validated objects.

202 + ``Location: /api/v1/jobs/{id}``; the ``plankton-training`` job
(:mod:`specimen_classify.training.project_training`) goes to the training queue, which only a
worker with the trainer serves (``worker --queue training``; it waits queued until one runs), writes
the version's card and registers it without activating it: a moderator activates it. Moderators
and admins start trainings, on projects they can see (any other project: 404); too few
validated objects is a 422 at once (and the job's failure reason if they change meanwhile).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response, status

from specimen_classify.adapters.jobs import JobQueue, job_tasks
from specimen_classify.adapters.training_sets import TRAINING_KIND, start_plankton_training
from specimen_classify.api.deps import ProjectService, Settings
from specimen_classify.api.job_schemas import MAX_ERRORS_SHOWN, JobPublic
from specimen_classify.api.jobs import Queue
from specimen_classify.api.model_schemas import TrainingRequest
from specimen_classify.domain.plankton.projects import ProjectRole
from specimen_imaging.measurements import FEATURE_SET_VERSION
from specimen_kit.openapi_problems import documented_problem
from specimen_kit.security import ModeratorOrAbove
from specimen_kit.storage import DbSession

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/models", tags=["models"])


def _enqueue(queue: JobQueue, task_ids: list[int]) -> None:
    try:
        # On the training lane: only a worker with the trainer takes it; none running, it waits.
        queue.enqueue(task_ids, kind=TRAINING_KIND, force=True)
    except Exception:  # recorded anyway: the workers' reconciler enqueues it when Redis is back
        logger.warning("enqueueing training tasks %s failed; the reconciler will", task_ids, exc_info=True)


@router.post(
    "/plankton/trainings", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic,
    responses={403: documented_problem("Only moderators and admins train models."),
               404: documented_problem("A project is not among those you can see (project-not-found)."),
               422: documented_problem("Fewer than two categories with enough validated objects "
                                       "(training-data-insufficient), or a field is invalid."),
               503: documented_problem("No Redis for the jobs (jobs-unavailable).")},
    summary="Train a new plankton forest version from the validated objects of projects (a job); "
            "it is registered, not activated")
def start_training(body: TrainingRequest, caller: ModeratorOrAbove, projects: ProjectService,
                   session: DbSession, queue: Queue, settings: Settings, request: Request,
                   response: Response) -> JobPublic:
    for project_id in body.project_ids:
        projects.require(caller, project_id, ProjectRole.VIEWER)
    job, task_ids, _ = start_plankton_training(
        session, caller, body.project_ids, seed=body.seed, n_estimators=body.n_estimators,
        min_per_class=settings.training_min_per_class, feature_set=FEATURE_SET_VERSION)
    session.commit()  # recorded before it is queued
    _enqueue(queue, task_ids)
    response.headers["Location"] = request.app.url_path_for("get_job", job_id=str(job.id))
    return JobPublic.of(job, job_tasks(session, job.id, statuses=("failed",), limit=MAX_ERRORS_SHOWN))
