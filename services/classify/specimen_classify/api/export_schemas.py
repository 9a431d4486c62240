"""Bodies of the ``/exports`` routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from specimen_classify.adapters.jobs import JobRecord
from specimen_classify.domain.plankton.projects import ObjectStatus
from specimen_kit.timestamps import Timestamp

ExportFormat = Literal["ecotaxa", "csv"]


class ExportCreate(BaseModel):
    """What to export: the format and the review list's filters (empty lists: everything)."""

    model_config = ConfigDict(extra="forbid")

    format: ExportFormat = Field(
        "ecotaxa", description="ecotaxa: a ZIP of ecotaxa_<project>.tsv and the crop PNGs (EcoTaxa's "
        "import format); csv: the same rows as one CSV file.")
    status: list[ObjectStatus] = Field(default_factory=list, max_length=3,
                                       description="Only objects with one of these statuses.")
    category: list[str] = Field(default_factory=list, max_length=200,
                                description="Only objects in one of these categories.")


class ExportPublic(BaseModel):
    """An export job: its state and, once succeeded, where its file is."""

    id: int
    project_id: int
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    format: ExportFormat
    filters: dict[str, list[str]]
    objects: int
    bytes: int | None
    file_name: str | None
    content_url: str | None = Field(description="GET it for the file (once status is succeeded).")
    error: str | None = Field(description="Why the export failed (its task's reason), else null.")
    job_url: str
    created_at: Timestamp
    finished_at: Timestamp | None

    @classmethod
    def of(cls, job: JobRecord, error: str | None = None) -> ExportPublic:
        result: dict[str, Any] = job.result or {}
        done = job.status == "succeeded" and "blob_key" in result
        return cls(id=job.id, project_id=job.project_id or 0, status=job.status,
                   format=job.params.get("format", "ecotaxa"),
                   filters={"status": job.params.get("status", []),
                            "category": job.params.get("category", [])},
                   objects=job.objects, bytes=result.get("bytes") if done else None,
                   file_name=result.get("file_name") if done else None,
                   content_url=f"/api/v1/exports/{job.id}/content" if done else None,
                   error=error or job.error,
                   job_url=f"/api/v1/jobs/{job.id}", created_at=job.created_at, finished_at=job.finished_at)
