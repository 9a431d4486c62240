"""``python -m specimen_classify worker``: RQ workers for the classify jobs.

A real forking RQ :class:`~rq.Worker` (each task runs in a fresh work horse, so a task that
crashes or leaks takes nothing with it); the plankton forest is loaded once in the parent before
any fork, so every horse has it without reading the store. ``SIGTERM`` is RQ's warm shutdown:
the current task finishes, then the worker exits (Kubernetes' grace period must be longer than
one frame); a second ``SIGTERM`` is a cold one. ``worker_concurrency`` > 1 runs an RQ
:class:`~rq.worker_pool.WorkerPool` of that many such workers.

A worker listens to the queues of the lanes it is given (:data:`~specimen_classify.adapters.jobs.LANES`,
default all of them, as ``make run``'s one worker does): the serving image's workers take
``default`` (runs, exports, imports), a worker in the trainer image ``training`` (trainings).

Each worker also runs the reconciler (:func:`specimen_classify.adapters.jobs.reconcile`) at
start and every ``job_reconcile_seconds`` while it waits for work, so what Redis forgot (a flush,
a restart) and what a killed worker left running are queued again.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any, ClassVar

import redis
from redis import Redis
from rq import Worker
from rq.exceptions import StopRequested
from rq.worker_pool import WorkerPool

from specimen_classify.adapters.jobs import (
    LANES,
    TRAINING_LANE,
    WorkerResources,
    install_resources,
    job_queue_of,
    load_job_kinds,
    reconcile,
    resources,
)
from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.adapters.plankton_runs import PlanktonModels
from specimen_classify.adapters.scan_imports import MriModels
from specimen_classify.config import ClassifySettings

logger = logging.getLogger(__name__)
REDIS_RETRY_SECONDS = 2.0


class ReconcilingWorker(Worker):
    """An RQ worker that also reconciles the database's tasks with Redis while idle."""

    reconcile_seconds: ClassVar[float] = 15.0
    lease_seconds: ClassVar[float] = 60.0
    _last_reconciled: float | None = None

    @property
    def dequeue_timeout(self) -> int:
        # Waits for work no longer than one reconcile period, so the reconciler runs on time.
        return max(1, min(int(self.reconcile_seconds), self.worker_ttl - 15))

    def _reconcile_due(self) -> bool:
        last = self._last_reconciled
        return last is None or time.monotonic() - last >= self.reconcile_seconds

    @property
    def should_run_maintenance_tasks(self) -> bool:
        # RQ asks this on each pass of its wait for a job, so a warm stop it only recorded is
        # acted on here: a SIGTERM that lands between the end of a job and the wait for the
        # next (RQ still marks the worker busy) sets ``_stop_requested`` without raising, and
        # RQ's wait never looks at it: the worker waited for jobs for ever (seen in the suite
        # under load: a pool's worker still alive minutes after SIGTERM).
        if self._stop_requested and not self.horse_pid:
            raise StopRequested()
        return bool(super().should_run_maintenance_tasks) or self._reconcile_due()

    def run_maintenance_tasks(self) -> None:
        if super().should_run_maintenance_tasks:
            super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        if self._reconcile_due():
            self._last_reconciled = time.monotonic()
            self.reconcile_now()

    def reconcile_now(self) -> None:
        res = resources()
        try:
            done = reconcile(res.sessions(), job_queue_of(res.settings, self.connection),
                             lease_seconds=self.lease_seconds)
        except StopRequested:
            # SIGTERM while idle: RQ's warm shutdown raises this from its signal handler, here
            # if the signal lands mid-reconcile. Swallowed, the worker never stopped (seen in CI:
            # still running 30 s after SIGTERM, then retrying a Redis that was gone, for ever).
            raise
        except Exception:  # the database or Redis away: the next period tries again
            logger.warning("reconciling the jobs failed; trying again in %ss", self.reconcile_seconds,
                           exc_info=True)
            return
        if done.requeued_lost or done.enqueued or done.closed:
            logger.info("reconciled jobs", extra={"requeued_lost": done.requeued_lost,
                                                  "enqueued": done.enqueued, "closed": done.closed})


def prepare_worker(settings: ClassifySettings, *, serving: bool = True) -> WorkerResources:
    """Load what every task needs once, before forking: the job kinds, the active forest (with
    one small frame run through the pipeline so that every work horse inherits its set-up) and
    the active MRI model; only the job kinds for a worker that only trains (``serving`` False)."""
    load_job_kinds()
    models = PlanktonModels(ModelStore(settings.resolved_model_dir))
    mri = MriModels(ModelStore(settings.resolved_model_dir))
    if not serving:
        logger.info("worker ready (trainings only)")
        prepared = WorkerResources(settings, extras={"plankton_models": models, "mri_models": mri})
        install_resources(prepared)
        return prepared
    try:
        version = models.preload_active()
    except Exception:  # a task names its version; it fails with the reason if that one won't load
        logger.exception("the active plankton model did not load")
        version = None
    if version is not None:
        try:
            models.warm_up(version)
        except Exception:  # only a speed-up: the tasks still run (and report their own errors)
            logger.warning("warming up the plankton pipeline failed", exc_info=True)
    try:
        mri_version = mri.preload_active()
    except Exception:  # an import names its version; its slices fail with the reason if it won't load
        logger.exception("the active MRI model did not load")
        mri_version = None
    logger.info("worker ready", extra={"plankton_model_version": version, "mri_model_version": mri_version})
    prepared = WorkerResources(settings, extras={"plankton_models": models, "mri_models": mri})
    install_resources(prepared)
    return prepared


def run_worker(settings: ClassifySettings, *, queues: list[str] | None = None, burst: bool = False,
               concurrency: int | None = None, with_scheduler: bool = True) -> int:
    """Run RQ workers on the queues of the lanes ``queues`` (default: every lane, default
    first) until stopped; the exit status."""
    if not settings.redis_url:
        logger.error("the worker needs Redis: set SPECIMEN_REDIS_URL")
        return 2
    lanes = list(dict.fromkeys(queues or LANES))
    unknown = [lane for lane in lanes if lane not in LANES]
    if unknown:
        logger.error("no such queue %s; the queues are %s", ", ".join(unknown), ", ".join(LANES))
        return 2
    prepare_worker(settings, serving=lanes != [TRAINING_LANE])
    connection = Redis.from_url(settings.redis_url)
    names = [job_queue_of(settings, connection).queue_name(lane) for lane in lanes]
    logger.info("worker listening", extra={"queues": names})
    attributes: dict[str, Any] = {"reconcile_seconds": settings.job_reconcile_seconds,
                                  "lease_seconds": settings.job_lease_seconds}
    worker_class = type("ConfiguredWorker", (ReconcilingWorker,), attributes)
    workers = concurrency or settings.worker_concurrency
    if workers > 1:
        pool = WorkerPool(names, connection=connection, num_workers=workers, worker_class=worker_class)
        pool.start(burst=burst, logging_level=settings.log_level)
        return 0
    stop = threading.Event()
    while True:
        worker = worker_class(names, connection=connection)
        try:
            worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=settings.log_level)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            logger.warning("the worker lost Redis", exc_info=True)
        if burst or getattr(worker, "_shutdown_requested_date", None) is not None:
            return 0
        # RQ quits its loop when Redis goes away mid-task (a restart); the models stay loaded
        # here, so work again once Redis answers instead of exiting (SIGTERM still stops).
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        logger.warning("the worker stopped on a Redis fault; starting again in %ss", REDIS_RETRY_SECONDS)
        if stop.wait(REDIS_RETRY_SECONDS):
            return 0
