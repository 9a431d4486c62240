"""Jobs: long work split into tasks that RQ workers run (a plankton run: one task per frame).

The rules here are pure: which statuses exist, when a job is over and how it ended
(:func:`closing_status`), how long a transient fault waits before the next try
(:func:`retry_intervals`), and the errors the job routes raise. The database records and the
queue are :mod:`specimen_classify.adapters.jobs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from specimen_kit.errors import Problem
from specimen_kit.roles import Role

JobKind = Literal["plankton-run", "scan-import", "plankton-training", "ecotaxa-export",
                  "descriptor-backfill"]
JOB_KINDS: tuple[JobKind, ...] = ("plankton-run", "scan-import", "plankton-training", "ecotaxa-export",
                                  "descriptor-backfill")
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TaskStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
OPEN_STATUSES: tuple[str, ...] = ("queued", "running")
"""A task or job in one of these may still change; the others are final."""


@dataclass(frozen=True)
class TaskCounts:
    """How many of a job's tasks are in each status."""

    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def open(self) -> int:
        return self.queued + self.running

    @property
    def total(self) -> int:
        return self.open + self.succeeded + self.failed + self.cancelled


def closing_status(counts: TaskCounts, cancel_requested: bool) -> JobStatus | None:
    """How a job ends once its last task has: None while a task is queued or running.

    A cancelled job is ``cancelled``; a job whose every task failed is ``failed``; otherwise it
    ``succeeded`` (a frame that is not an image fails alone: its error and the job's ``failed``
    count say so, and ``POST /jobs/{id}/retry`` runs it again).

    Examples
    --------
    >>> closing_status(TaskCounts(running=1, succeeded=3), False) is None
    True
    >>> closing_status(TaskCounts(succeeded=3, failed=1), False)
    'succeeded'
    >>> closing_status(TaskCounts(failed=2), False)
    'failed'
    >>> closing_status(TaskCounts(succeeded=1, cancelled=2), True)
    'cancelled'
    >>> closing_status(TaskCounts(), False)
    'succeeded'
    """
    if counts.open:
        return None
    if cancel_requested:
        return "cancelled"
    if counts.failed and not counts.succeeded:
        return "failed"
    return "succeeded"


def retry_intervals(retries: int, first_seconds: float, factor: float = 4.0) -> list[int]:
    """Seconds before each retry of a task after a transient fault: exponential backoff.

    Examples
    --------
    >>> retry_intervals(3, 1.0)
    [1, 4, 16]
    >>> retry_intervals(0, 1.0)
    []
    """
    return [max(1, round(first_seconds * factor ** i)) for i in range(retries)]


HOSPITAL_KINDS: tuple[JobKind, ...] = ("scan-import",)
"""Kinds of job that belong to a hospital (their ``hospital``), not to a project."""


def hospital_job_visible(kind: str, job_hospital: str | None, role: Role, caller_hospital: str) -> bool:
    """Whether a moderator of ``caller_hospital`` sees (and may cancel or retry) a job: a scan
    import of their own hospital. Creators and admins see their jobs whatever this says.

    Examples
    --------
    >>> hospital_job_visible("scan-import", "general", Role.MODERATOR, "general")
    True
    >>> hospital_job_visible("scan-import", "general", Role.TECHNICIAN, "general")
    False
    >>> hospital_job_visible("plankton-run", "general", Role.MODERATOR, "general")
    False
    """
    return (kind in HOSPITAL_KINDS and job_hospital is not None and job_hospital == caller_hospital
            and role.at_least(Role.MODERATOR))


class JobNotFound(Problem):
    """No job with this id that the caller may see (the same answer as for no job at all)."""

    status = 404
    title = "Job not found"
    slug = "job-not-found"


class JobNotRetryable(Problem):
    """The job has no failed or cancelled task to run again, or is still running."""

    status = 409
    title = "Nothing to retry"
    slug = "job-not-retryable"


class JobsUnavailable(Problem):
    """Jobs cannot be queued: no Redis is configured for this service (SPECIMEN_REDIS_URL)."""

    status = 503
    title = "Jobs unavailable"
    slug = "jobs-unavailable"


class NoFramesToRun(Problem):
    """A run names no frame, or a frame id that is not in the project."""

    status = 422
    title = "No frames to run"
    slug = "no-frames-to-run"


class TaskCancelled(Exception):
    """Raised between the steps of a task whose job was cancelled: the task stops there."""
