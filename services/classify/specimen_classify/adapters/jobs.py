"""Jobs on Redis + RQ, recorded in the database.

A job (``jobs``) is split into tasks (``job_tasks``, a run: one per frame); each task is one RQ
job whose id derives from the task's (:func:`rq_job_id`), so enqueueing a task again never
duplicates it. The database is the record, Redis the delivery:

- :func:`create_job` writes the job and its tasks, commits, then enqueues (a Redis that is down
  then loses nothing: the reconciler enqueues them later).
- :func:`run_task` (what an RQ worker runs) *claims* the task in the database (queued → running,
  one more attempt), runs its kind's function (:func:`register_job_kind`) with a heartbeat,
  and *finishes* it: the task's status and, in the same transaction under the job's row lock,
  the job's progress; the last task to end closes the job (the fan-in,
  :func:`~specimen_classify.domain.jobs.closing_status`). A task that is no longer queued when
  its RQ job arrives (a duplicate delivery) is skipped, so each task's work is recorded once.
- Faults: a :class:`~specimen_kit.errors.Problem` (bad input: a frame that is not an image) fails
  the task with its reason, never retried; a transient fault (database, Redis, disk) puts the
  task back to queued and raises, so RQ retries it with backoff (``Retry``); anything else fails
  the task as an internal error. After ``job_max_attempts`` claims a task fails for good.
- :func:`reconcile` (a worker runs it at start and every ``job_reconcile_seconds``): running
  tasks whose heartbeat is older than the lease (their worker was killed) are queued again;
  queued tasks whose RQ job Redis does not hold as waiting or running (a Redis flush or restart,
  exhausted retries) are enqueued again; open jobs whose tasks have all ended are closed.
- Queues: each kind's tasks go to its *lane* (:func:`lane_of`): trainings to ``<queue>:training``,
  which only a worker with the trainer (the ``train`` extra, the trainer image) listens to, and
  every other kind to ``<queue>`` itself (the serving image's workers). A training posted while no
  trainer worker runs stays queued; it is never taken, and failed, by a worker that cannot train.
  A task delivered on another lane's queue (enqueued before the lanes existed) is left queued
  and the reconciler enqueues it on its own.
- :func:`cancel_job` cancels the queued tasks at once; running ones stop at their next
  :meth:`TaskContext.checkpoint`. :func:`retry_job` queues the failed and cancelled tasks again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import Select, func, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from specimen_classify.adapters.tables import JobRow, JobTaskRow
from specimen_classify.domain.jobs import (
    JobKind,
    JobNotRetryable,
    TaskCancelled,
    TaskCounts,
    closing_status,
    retry_intervals,
)
from specimen_classify.domain.jobs import (
    JobStatus as JobState,
)
from specimen_kit.database import begin_writing, build_engine, build_sessionmaker
from specimen_kit.errors import Problem
from specimen_kit.timestamps import utc_now

logger = logging.getLogger(__name__)

RQ_JOB_PREFIX = "specimen-task-"
TASK_FUNCTION = "specimen_classify.adapters.jobs.run_task"
_ACTIVE_RQ_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError,
)
"""Faults worth another try later: the database or Redis away, a disk full or unreadable."""
MAX_ERROR_CHARS = 2000


def rq_job_id(task_id: int, namespace: str = "") -> str:
    """The RQ job id of a task: the same every time, so a second enqueue replaces, never adds.

    ``namespace`` (``SPECIMEN_CLASSIFY_JOB_NAMESPACE``) keeps two databases' task 1 apart on
    one Redis: without it the second deployment's enqueue saw the first's job and skipped.
    """
    return f"{RQ_JOB_PREFIX}{namespace}-{task_id}" if namespace else f"{RQ_JOB_PREFIX}{task_id}"


# --- records --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRecord:
    """A job as its kind's task function and the routes read it."""

    id: int
    kind: str
    project_id: int | None
    created_by: int
    hospital: str | None
    status: str
    params: dict[str, Any]
    params_hash: str
    total: int
    done: int
    failed: int
    objects: int
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: JobRow) -> JobRecord:
        return cls(id=row.id, kind=row.kind, project_id=row.project_id, created_by=row.created_by,
                   hospital=row.hospital, status=row.status, params=json.loads(row.params),
                   params_hash=row.params_hash, total=row.total, done=row.done, failed=row.failed,
                   objects=row.objects, result=json.loads(row.result) if row.result else None,
                   error=row.error, cancel_requested=row.cancel_requested, created_at=row.created_at,
                   started_at=row.started_at, finished_at=row.finished_at)


@dataclass(frozen=True)
class TaskRecord:
    """One task of a job."""

    id: int
    job_id: int
    frame_id: int | None
    item: str | None
    status: str
    attempts: int
    error: str | None
    objects: int
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: JobTaskRow) -> TaskRecord:
        return cls(id=row.id, job_id=row.job_id, frame_id=row.frame_id, item=row.item,
                   status=row.status, attempts=row.attempts, error=row.error, objects=row.objects,
                   started_at=row.started_at, finished_at=row.finished_at)


@dataclass(frozen=True)
class TaskOutcome:
    """What a task made: objects counted in the job's progress, and an optional result merged
    into the job's ``result`` (an export's blob key, a training's model version)."""

    objects: int = 0
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class TaskSpec:
    """One task to create: a frame, or an item for kinds that work on something else.

    ``error``: a task already judged bad when the job is created (a scan import's archive member
    with an unsafe path) is recorded failed with this reason and never enqueued; a retry of the
    job runs it, and its kind's function fails it again with the same reason."""

    frame_id: int | None = None
    item: str | None = None
    error: str | None = None


# --- the kinds of job -----------------------------------------------------------------------


TaskFunction = Callable[["TaskContext", JobRecord, TaskRecord], TaskOutcome]
_KINDS: dict[str, TaskFunction] = {}
JOB_KIND_MODULES: tuple[str, ...] = ("specimen_classify.adapters.plankton_runs",
                                     "specimen_classify.adapters.ecotaxa_exports",
                                     "specimen_classify.adapters.descriptor_backfill",
                                     "specimen_classify.adapters.scan_imports",
                                     "specimen_classify.training.project_training")
"""Modules that register a kind when imported (:func:`load_job_kinds`); a new kind adds its own."""


def register_job_kind(kind: JobKind, function: TaskFunction) -> None:
    """Make ``function`` the task function of ``kind``'s tasks (one kind, one function)."""
    _KINDS[kind] = function


def load_job_kinds() -> dict[str, TaskFunction]:
    """Import every module of :data:`JOB_KIND_MODULES` (they register their kinds); the kinds."""
    import importlib

    for module in JOB_KIND_MODULES:
        importlib.import_module(module)
    return dict(_KINDS)


# --- the queue --------------------------------------------------------------------------------


DEFAULT_LANE = "default"
TRAINING_LANE = "training"
LANES: tuple[str, ...] = (DEFAULT_LANE, TRAINING_LANE)
"""The queues of a deployment, by role: ``default`` (runs, exports, imports, backfills: the
serving image's workers) and ``training`` (trainings: a worker with the trainer)."""
_LANE_OF_KIND: dict[str, str] = {"plankton-training": TRAINING_LANE}


def lane_of(kind: str) -> str:
    """The lane (:data:`LANES`) of a kind's tasks."""
    return _LANE_OF_KIND.get(kind, DEFAULT_LANE)


def lane_of_queue(queue_name: str) -> str:
    """The lane a queue name (from :meth:`JobQueue.queue_name`) stands for."""
    base, sep, suffix = queue_name.rpartition(":")
    return suffix if sep and base and suffix in LANES else DEFAULT_LANE


@dataclass
class JobQueue:
    """The RQ queue the tasks go to, and how they are retried."""

    connection: Redis
    name: str
    namespace: str = ""
    retries: int = 3
    retry_first_seconds: float = 2.0
    task_timeout_seconds: int = 900

    def queue_name(self, lane: str = DEFAULT_LANE) -> str:
        """The RQ queue of a lane: ``name`` itself for the default lane, else ``name:lane``."""
        if lane not in LANES:
            raise ValueError(f"no such queue lane {lane!r}; the lanes are {', '.join(LANES)}")
        return self.name if lane == DEFAULT_LANE else f"{self.name}:{lane}"

    @property
    def queue(self) -> Queue:
        """The default lane's RQ queue."""
        return self.rq_queue(DEFAULT_LANE)

    def rq_queue(self, lane: str) -> Queue:
        return Queue(self.queue_name(lane), connection=self.connection)

    def enqueue(self, task_ids: Iterable[int], *, kind: str | None = None, force: bool = False,
                started_before: datetime | None = None) -> int:
        """Enqueue each task's RQ job, on the queue of ``kind``'s lane (default: the default
        lane), unless Redis already holds it waiting or running.

        ``force`` enqueues even then (a task taken back from a lost worker, whose RQ job may
        still look started). ``started_before`` (the reconciler's queued tasks) makes two of
        Redis' answers count as lost rather than running or waiting, each left by a worker
        killed between taking the job and claiming the task in the database (a claim is what
        makes a task running): an RQ job started before it, and an RQ job "queued" yet on no
        queue's list (dequeued: RQ moved it to the queue's intermediate list and cleans that
        list only every ten minutes). Enqueuing a live one again costs one skipped run: a
        second claim is refused. Returns how many were enqueued.
        """
        queue = self.rq_queue(lane_of(kind) if kind is not None else DEFAULT_LANE)
        intervals = retry_intervals(self.retries, self.retry_first_seconds)
        waiting: dict[str, set[str]] = {}
        enqueued = 0
        for task_id in task_ids:
            job_id = rq_job_id(task_id, self.namespace)
            if not force and self._holds(job_id, started_before, waiting):
                continue
            queue.enqueue_call(TASK_FUNCTION, args=(task_id,), job_id=job_id,
                               timeout=self.task_timeout_seconds, result_ttl=3600, failure_ttl=86_400,
                               retry=Retry(max=self.retries, interval=intervals) if self.retries else None,
                               description=f"job task {task_id}")
            enqueued += 1
        return enqueued

    def _holds(self, job_id: str, started_before: datetime | None, waiting: dict[str, set[str]]) -> bool:
        """Whether Redis holds the RQ job waiting or running; with ``started_before``, running
        means started since then and waiting means on its queue's list (``waiting`` keeps each
        list read, once per :meth:`enqueue`)."""
        try:
            job = Job.fetch(job_id, connection=self.connection)
        except NoSuchJobError:
            return False
        status = job.get_status(refresh=False)
        if started_before is None:
            return status in _ACTIVE_RQ_STATUSES
        if status == JobStatus.STARTED and job.started_at is not None:
            started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
            return started >= started_before
        if status == JobStatus.QUEUED:
            if job.origin not in waiting:
                waiting[job.origin] = set(Queue(job.origin, connection=self.connection).get_job_ids())
            return job_id in waiting[job.origin]
        return status in _ACTIVE_RQ_STATUSES

    def cancel(self, task_ids: Iterable[int]) -> None:
        """Take the tasks' RQ jobs off the queue (best effort: a task run anyway is skipped)."""
        for task_id in task_ids:
            with contextlib.suppress(NoSuchJobError, redis.exceptions.RedisError, ValueError):
                Job.fetch(rq_job_id(task_id, self.namespace), connection=self.connection).cancel()


# --- creating, reading, cancelling, retrying -------------------------------------------------


def create_job(session: Session, *, kind: JobKind, project_id: int | None, created_by: int,
               hospital: str | None, params: dict[str, Any], params_hash: str,
               tasks: Sequence[TaskSpec]) -> tuple[JobRecord, list[int]]:
    """Record a job and its tasks (flushed, not committed); the job and the task ids to enqueue
    once the caller has committed."""
    now = utc_now()
    job = JobRow(kind=kind, project_id=project_id, created_by=created_by, hospital=hospital,
                 status="queued", params=json.dumps(params, sort_keys=True), params_hash=params_hash,
                 total=len(tasks), done=0, failed=0, objects=0, result=None, error=None,
                 cancel_requested=False, created_at=now, started_at=None, finished_at=None)
    session.add(job)
    session.flush()
    rows = [JobTaskRow(job_id=job.id, frame_id=spec.frame_id, item=spec.item,
                       status="queued" if spec.error is None else "failed", attempts=0,
                       error=_clip(spec.error), rq_job_id="", objects=0, heartbeat_at=None,
                       started_at=None, finished_at=None if spec.error is None else now)
            for spec in tasks]
    session.add_all(rows)
    session.flush()
    for row in rows:
        row.rq_job_id = rq_job_id(row.id)
    if not rows or any(spec.error is not None for spec in tasks):
        _refresh_job(session, job)
        if job.status == "running":  # failed from the start is not started: nothing ran yet
            job.status, job.started_at = "queued", None
    session.flush()
    return JobRecord.of(job), [row.id for row in rows if row.status == "queued"]


def get_job(session: Session, job_id: int) -> JobRecord | None:
    row = session.get(JobRow, job_id)
    return JobRecord.of(row) if row is not None else None


def list_jobs(session: Session, *, project_id: int, kind: str | None, limit: int,
              offset: int) -> tuple[list[JobRecord], int]:
    """A project's jobs (of ``kind`` when given), newest first, and how many there are."""
    query: Select[Any] = select(JobRow).where(JobRow.project_id == project_id)
    if kind is not None:
        query = query.where(JobRow.kind == kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(JobRow.id.desc()).limit(limit).offset(offset))
    return [JobRecord.of(row) for row in rows], total


def job_tasks(session: Session, job_id: int, *, statuses: Sequence[str] | None = None,
              limit: int | None = None) -> list[TaskRecord]:
    query = select(JobTaskRow).where(JobTaskRow.job_id == job_id)
    if statuses is not None:
        query = query.where(JobTaskRow.status.in_(statuses))
    rows = session.scalars(query.order_by(JobTaskRow.id).limit(limit))
    return [TaskRecord.of(row) for row in rows]


def _locked_job(session: Session, job_id: int) -> JobRow | None:
    """The job's row, read afresh and locked until the transaction ends (the row on PostgreSQL,
    the database on SQLite), so that two tasks ending at once, or a task ending while the job
    is cancelled, see each other's writes."""
    begin_writing(session)
    return session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()
                           .execution_options(populate_existing=True)).first()


def cancel_job(session: Session, job_id: int) -> tuple[JobRecord, list[int]]:
    """Ask a job to stop (flushed): queued tasks are cancelled now, running ones at their next
    checkpoint; a job with nothing running closes as cancelled. Returns the job and the cancelled
    task ids (whose RQ jobs the caller takes off the queue after committing)."""
    job = _locked_job(session, job_id)
    if job is None:
        raise LookupError(job_id)
    cancelled: list[int] = []
    if job.status in ("queued", "running"):
        job.cancel_requested = True
        now = utc_now()
        cancelled = list(session.scalars(select(JobTaskRow.id).where(
            JobTaskRow.job_id == job_id, JobTaskRow.status == "queued")))
        if cancelled:
            session.execute(update(JobTaskRow).where(JobTaskRow.id.in_(cancelled)).values(
                status="cancelled", finished_at=now, error="cancelled before it started"))
        _refresh_job(session, job)
    session.flush()
    return JobRecord.of(job), cancelled


def retry_job(session: Session, job_id: int) -> tuple[JobRecord, list[int]]:
    """Queue a finished job's failed and cancelled tasks again (flushed); the ids to enqueue.

    Raises
    ------
    JobNotRetryable
        The job is still queued or running, or has no failed or cancelled task.
    """
    job = _locked_job(session, job_id)
    if job is None:
        raise LookupError(job_id)
    if job.status in ("queued", "running"):
        raise JobNotRetryable(f"job {job_id} is still {job.status}; cancel it or wait for it to end")
    ids = list(session.scalars(select(JobTaskRow.id).where(
        JobTaskRow.job_id == job_id, JobTaskRow.status.in_(("failed", "cancelled")))))
    if not ids:
        raise JobNotRetryable(f"job {job_id} has no failed or cancelled task to run again")
    session.execute(update(JobTaskRow).where(JobTaskRow.id.in_(ids)).values(
        status="queued", attempts=0, error=None, heartbeat_at=None, started_at=None, finished_at=None))
    job.cancel_requested = False
    job.finished_at = None
    job.error = None
    _refresh_job(session, job)
    session.flush()
    return JobRecord.of(job), ids


def _counts(session: Session, job_id: int) -> tuple[TaskCounts, int]:
    made = func.coalesce(func.sum(JobTaskRow.objects), 0)
    rows = session.execute(select(JobTaskRow.status, func.count(), made)
                           .where(JobTaskRow.job_id == job_id).group_by(JobTaskRow.status)).all()
    by_status = {status: int(count) for status, count, _ in rows}
    objects = sum(int(made) for status, _, made in rows if status == "succeeded")
    return TaskCounts(**by_status), objects


def _refresh_job(session: Session, job: JobRow) -> None:
    """Recount the job's progress from its tasks and close it when its last task has ended."""
    session.flush()
    counts, objects = _counts(session, job.id)
    job.total, job.done, job.failed, job.objects = counts.total, counts.succeeded, counts.failed, objects
    ending: JobState | None = closing_status(counts, job.cancel_requested)
    if ending is not None:
        if job.status in ("queued", "running") or job.finished_at is None:
            job.status = ending
            job.finished_at = utc_now()
            if ending == "failed" and not job.error:
                job.error = "every task failed; see the tasks' errors"
    elif counts.running or counts.succeeded or counts.failed:
        job.status = "running"
        job.started_at = job.started_at or utc_now()
    else:
        job.status = "queued"


# --- running a task (in an RQ work horse) ---------------------------------------------------


class WorkerResources:
    """What tasks need, built once per process: the database, blobs, models, Redis.

    The worker command builds one before forking (the models load once there); a forked work
    horse gets fresh database and Redis connections (:meth:`sessions`), never its parent's.
    """

    def __init__(self, settings: Any, *, extras: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.extras: dict[str, Any] = extras or {}
        self._pid: int | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._engine: Any = None

    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None or self._pid != os.getpid():
            if self._engine is not None and self._pid != os.getpid():
                self._engine.dispose(close=False)  # the parent's connections stay the parent's
            self._engine = build_engine(self.settings.resolved_database_url, pool_size=2)
            self._sessions = build_sessionmaker(self._engine)
            self._pid = os.getpid()
        return self._sessions

    def job_queue(self, connection: Redis | None = None) -> JobQueue:
        if connection is None:
            if not self.settings.redis_url:
                raise RuntimeError("SPECIMEN_REDIS_URL is not set")
            connection = Redis.from_url(self.settings.redis_url)
        return job_queue_of(self.settings, connection)


def job_queue_of(settings: Any, connection: Redis) -> JobQueue:
    return JobQueue(connection, settings.resolved_jobs_queue,
                    namespace=settings.resolved_job_namespace, retries=settings.job_retries,
                    retry_first_seconds=settings.job_retry_first_seconds,
                    task_timeout_seconds=settings.job_task_timeout_seconds)


_RESOURCES: WorkerResources | None = None


def install_resources(resources: WorkerResources) -> None:
    """Make ``resources`` what :func:`run_task` uses in this process (and its forks)."""
    global _RESOURCES
    _RESOURCES = resources


def resources() -> WorkerResources:
    """This process's resources; built from the environment when the worker command did not."""
    global _RESOURCES
    if _RESOURCES is None:
        from specimen_classify.config import ClassifySettings

        _RESOURCES = WorkerResources(ClassifySettings())
    return _RESOURCES


@dataclass
class TaskContext:
    """Given to a task function: the resources, and :meth:`checkpoint` between its steps."""

    resources: WorkerResources
    job_id: int
    task_id: int
    attempt: int
    _stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def settings(self) -> Any:
        return self.resources.settings

    def session(self) -> Session:
        return self.resources.sessions()()

    def checkpoint(self) -> None:
        """Raise :class:`TaskCancelled` when the job was cancelled (a step boundary)."""
        with self.session() as session:
            cancelled = session.scalar(select(JobRow.cancel_requested).where(JobRow.id == self.job_id))
        if cancelled:
            raise TaskCancelled(f"job {self.job_id} was cancelled")


def _claim(sessions: sessionmaker[Session], task_id: int,
           max_attempts: int) -> tuple[JobRecord, TaskRecord] | str:
    """Take a queued task (one more attempt) and mark its job running; or why not."""
    with sessions() as session, session.begin():
        task = session.get(JobTaskRow, task_id)
        if task is None:
            return "gone"
        job = _locked_job(session, task.job_id)
        session.refresh(task)
        if job is None:
            return "gone"
        if task.status != "queued":
            return f"already {task.status}"
        now = utc_now()
        if job.cancel_requested:
            task.status, task.finished_at, task.error = "cancelled", now, "cancelled before it started"
            _refresh_job(session, job)
            return "cancelled"
        if task.attempts >= max_attempts:
            task.status, task.finished_at = "failed", now
            task.error = _clip(f"gave up after {task.attempts} attempts; last error: {task.error or 'none'}")
            _refresh_job(session, job)
            return "gave up"
        task.status, task.attempts = "running", task.attempts + 1
        task.started_at = task.heartbeat_at = now
        task.finished_at = None
        _refresh_job(session, job)
        session.flush()
        return JobRecord.of(job), TaskRecord.of(task)


def _finish(sessions: sessionmaker[Session], task_id: int, attempt: int, status: str, *,
            error: str | None = None, outcome: TaskOutcome | None = None) -> bool:
    """End the task's attempt ``attempt`` and update its job (the fan-in); False when the task
    was meanwhile taken back (a lost lease) and this attempt no longer counts."""
    with sessions() as session, session.begin():
        job_id = session.scalar(select(JobTaskRow.job_id).where(JobTaskRow.id == task_id))
        if job_id is None:
            return False
        job = _locked_job(session, job_id)
        task = session.get(JobTaskRow, task_id, populate_existing=True)
        if job is None or task is None or task.status != "running" or task.attempts != attempt:
            return False
        task.status, task.finished_at, task.error = status, utc_now(), _clip(error) if error else None
        if status == "queued":
            task.finished_at = task.started_at = task.heartbeat_at = None
        if outcome is not None:
            task.objects = outcome.objects
            if outcome.result:
                merged = {**(json.loads(job.result) if job.result else {}), **outcome.result}
                job.result = json.dumps(merged, sort_keys=True)
        _refresh_job(session, job)
        return True


def _clip(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"


class _Heartbeat:
    """Writes the running task's heartbeat every ``interval`` seconds until stopped."""

    def __init__(self, sessions: sessionmaker[Session], task_id: int, attempt: int,
                 interval: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sessions, task_id, attempt, interval),
                                        name=f"heartbeat-{task_id}", daemon=True)

    def _run(self, sessions: sessionmaker[Session], task_id: int, attempt: int, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                with sessions() as session, session.begin():
                    session.execute(update(JobTaskRow).where(
                        JobTaskRow.id == task_id, JobTaskRow.status == "running",
                        JobTaskRow.attempts == attempt).values(heartbeat_at=utc_now()))
            except Exception:  # the next beat tries again; a lost lease is the reconciler's
                logger.warning("heartbeat of task %s failed", task_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _misrouted(sessions: sessionmaker[Session], task_id: int) -> str | None:
    """Why the RQ job in hand came on a queue of another lane than its kind's, or None.

    A training delivered on the default queue (queued before the lanes existed) would otherwise
    be claimed, and failed, by a worker that cannot train. Left queued, its RQ job ends here and
    the reconciler enqueues it on its own lane's queue."""
    from rq import get_current_job

    current = get_current_job()
    if current is None or not current.origin:
        return None
    with sessions() as session:
        kind = session.scalar(select(JobRow.kind).join(JobTaskRow, JobTaskRow.job_id == JobRow.id)
                              .where(JobTaskRow.id == task_id))
    if kind is None or lane_of(kind) == lane_of_queue(current.origin):
        return None
    return f"a {kind} task belongs on the {lane_of(kind)} lane, not on queue {current.origin}"


def run_task(task_id: int) -> str:
    """Run one task (the RQ job function): claim, run its kind's function, finish.

    Returns a word for RQ's result (``succeeded``, ``failed``, ``skipped: …``). Raises only for
    a transient fault, after putting the task back to queued, so that RQ retries it later.
    """
    res = resources()
    settings = res.settings
    sessions = res.sessions()
    misrouted = _misrouted(sessions, task_id)
    if misrouted is not None:
        logger.warning("task %s skipped: %s; the reconciler enqueues it there", task_id, misrouted)
        return f"skipped: {misrouted}"
    claimed = _claim(sessions, task_id, settings.job_max_attempts)
    if isinstance(claimed, str):
        logger.info("task %s skipped: %s", task_id, claimed)
        return f"skipped: {claimed}"
    job, task = claimed
    kinds = load_job_kinds()
    function = kinds.get(job.kind)
    if function is None:
        _finish(sessions, task_id, task.attempts, "failed",
                error=f"no worker function for kind {job.kind!r}")
        return "failed"
    context = TaskContext(res, job.id, task_id, task.attempts)
    try:
        with _Heartbeat(sessions, task_id, task.attempts, settings.job_lease_seconds / 4):
            context.checkpoint()
            outcome = function(context, job, task)
    except TaskCancelled:
        _finish(sessions, task_id, task.attempts, "cancelled", error="cancelled while running")
        return "cancelled"
    except Problem as problem:
        logger.info("task %s failed on its input: %s", task_id, problem.detail)
        _finish(sessions, task_id, task.attempts, "failed", error=problem.detail)
        return "failed"
    except TRANSIENT_ERRORS as fault:
        logger.warning("task %s met a transient fault; it will be tried again", task_id, exc_info=True)
        try:
            _finish(sessions, task_id, task.attempts, "queued",
                    error=f"transient fault, retried: {type(fault).__name__}: {fault}")
        except Exception:  # the database is away too: the lease expires and the reconciler requeues
            logger.warning("task %s could not be put back to queued", task_id, exc_info=True)
        raise
    except Exception as error:
        logger.exception("task %s failed", task_id)
        _finish(sessions, task_id, task.attempts, "failed",
                error=f"internal error ({type(error).__name__}); see the worker's log")
        return "failed"
    _finish(sessions, task_id, task.attempts, "succeeded", outcome=outcome)
    return "succeeded"


# --- the reconciler -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciled:
    """What one pass of :func:`reconcile` did."""

    requeued_lost: int
    enqueued: int
    closed: int


def _kinds_of_tasks(session: Session, task_ids: Sequence[int]) -> dict[int, str]:
    if not task_ids:
        return {}
    rows = session.execute(select(JobTaskRow.id, JobRow.kind).join(JobRow, JobRow.id == JobTaskRow.job_id)
                           .where(JobTaskRow.id.in_(task_ids))).all()
    return {int(task): str(kind) for task, kind in rows}


def _by_kind(tasks: Iterable[tuple[int, str]]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for task, kind in tasks:
        grouped.setdefault(kind, []).append(task)
    return grouped


def reconcile(sessions: sessionmaker[Session], queue: JobQueue, *, lease_seconds: float,
              batch: int = 5000) -> Reconciled:
    """Bring Redis in line with the database (see the module's docstring)."""
    stale_before = utc_now() - timedelta(seconds=lease_seconds)
    with sessions() as session, session.begin():
        lost = list(session.scalars(select(JobTaskRow.id).where(
            JobTaskRow.status == "running", JobTaskRow.heartbeat_at < stale_before).limit(batch)))
        if lost:
            session.execute(update(JobTaskRow).where(
                JobTaskRow.id.in_(lost), JobTaskRow.status == "running",
                JobTaskRow.heartbeat_at < stale_before).values(
                status="queued", heartbeat_at=None, started_at=None,
                error="its worker was lost (no heartbeat); queued again"))
    with sessions() as session:
        kinds = _kinds_of_tasks(session, lost)
        queued = session.execute(select(JobTaskRow.id, JobRow.kind)
                                 .join(JobRow, JobRow.id == JobTaskRow.job_id)
                                 .where(JobTaskRow.status == "queued")
                                 .order_by(JobTaskRow.id).limit(batch)).all()
    if lost:
        logger.warning("tasks %s lost their worker; queued again", lost)
        for kind, ids in _by_kind((task, kinds.get(task, "")) for task in lost).items():
            queue.enqueue(ids, kind=kind, force=True)
    taken_back = set(lost)
    enqueued = 0
    for kind, ids in _by_kind((task, kind) for task, kind in queued if task not in taken_back).items():
        # Queued here yet started in Redis for longer than a lease: its worker died between
        # taking the RQ job and claiming the task (a claim is what makes a task running), so
        # nothing else would ever run it again. A second claim of a live one is refused.
        enqueued += queue.enqueue(ids, kind=kind, started_before=stale_before)
    if enqueued:
        logger.warning("%d queued tasks were missing from Redis; enqueued again", enqueued)
    closed = 0
    with sessions() as session:
        open_jobs = list(session.scalars(select(JobRow.id).where(JobRow.status.in_(("queued", "running")))))
    for job_id in open_jobs:
        with sessions() as session, session.begin():
            job = _locked_job(session, job_id)
            if job is None:
                continue
            before = job.status
            _refresh_job(session, job)
            closed += before != job.status and job.status not in ("queued", "running")
    return Reconciled(requeued_lost=len(lost), enqueued=enqueued, closed=closed)
