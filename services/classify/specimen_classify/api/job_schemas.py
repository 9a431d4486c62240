"""Request and response bodies of the runs and ``/jobs`` routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from specimen_classify.adapters.jobs import JobRecord, TaskRecord
from specimen_classify.domain.plankton.runs import RunSettings
from specimen_kit.identifiers import MAX_RECORD_ID
from specimen_kit.paging import DEFAULT_LIMIT, LimitField, OffsetField
from specimen_kit.timestamps import Timestamp

MAX_ERRORS_SHOWN = 100
JobStatusField = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class RunRequest(RunSettings):
    """A run: the `/classify/plankton` segmentation fields, how crops are drawn, the forest
    version, and which frames (all of the project's when `frame_ids` is absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frame_ids: list[Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]] | None = Field(
        None, min_length=1,
        description="The project's frames to run, by id (each once); absent: every frame of the project.")

    def settings(self) -> RunSettings:
        return RunSettings(**self.model_dump(exclude={"frame_ids"}))


class Progress(BaseModel):
    total: int = Field(description="Tasks (frames) in the job.")
    done: int = Field(description="Tasks that succeeded.")
    failed: int = Field(description="Tasks that failed (their errors are in `errors`).")
    objects: int = Field(description="Objects stored by the tasks that succeeded.")


class TaskError(BaseModel):
    task_id: int
    frame_id: int | None
    item: str | None
    status: Literal["failed", "cancelled", "queued"]
    attempts: int
    error: str

    @classmethod
    def of(cls, task: TaskRecord) -> TaskError:
        status: Any = task.status
        return cls(task_id=task.id, frame_id=task.frame_id, item=task.item, status=status,
                   attempts=task.attempts, error=task.error or "")


class JobPublic(BaseModel):
    id: int
    kind: str
    project_id: int | None
    status: JobStatusField = Field(description="queued, running, then succeeded (failed frames, if any, "
                                   "in `errors`), failed (every task failed) or cancelled.")
    created_by: int
    params: dict[str, Any] = Field(description="The validated settings the job runs with (a run: the "
                                   "segmentation, crop and model version).")
    params_hash: str = Field(description="SHA-256 of the canonical settings: runs with equal hashes "
                             "made their objects the same way.")
    progress: Progress
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    errors: list[TaskError] = Field(description=f"The failed tasks' reasons (the first {MAX_ERRORS_SHOWN}).")
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None

    @classmethod
    def of(cls, job: JobRecord, errors: list[TaskRecord]) -> JobPublic:
        status: Any = job.status
        return cls(id=job.id, kind=job.kind, project_id=job.project_id, status=status,
                   created_by=job.created_by, params=job.params, params_hash=job.params_hash,
                   progress=Progress(total=job.total, done=job.done, failed=job.failed, objects=job.objects),
                   result=job.result, error=job.error, cancel_requested=job.cancel_requested,
                   errors=[TaskError.of(task) for task in errors], created_at=job.created_at,
                   started_at=job.started_at, finished_at=job.finished_at)


class JobPage(BaseModel):
    items: list[JobPublic]
    total: int
    limit: int
    offset: int


class RunListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: LimitField = DEFAULT_LIMIT
    offset: OffsetField = 0


FRAME_ID_MAX = MAX_RECORD_ID
