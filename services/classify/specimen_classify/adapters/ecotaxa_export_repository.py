"""A project's objects read for an export: one query, streamed in batches, as EcoTaxa rows.

Objects are joined to their frame and read in (frame, rank) order ``yield_per`` a batch, so a
100,000-object export never holds more than one batch of ORM rows; the filters are the review
list's (status, category). The runs' settings (the ``process_*`` columns) come from the caller,
read once up front: a project has few runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from specimen_classify.adapters.tables import FrameRow, PlanktonObjectRow, ProjectRow
from specimen_classify.domain.plankton.ecotaxa import EcotaxaProject, EcotaxaRow

BATCH = 1000
_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class ExportFilters:
    """Which objects go in: the review list's filters (``None``: all)."""

    statuses: Sequence[str] | None = None
    categories: Sequence[str] | None = None


def export_project(session: Session, project_id: int) -> EcotaxaProject | None:
    row = session.get(ProjectRow, project_id)
    if row is None:
        return None
    return EcotaxaProject(id=row.id, name=row.name, instrument=row.instrument,
                          pixel_size_um=row.pixel_size_um)


def _filtered(statement: _S, project_id: int, filters: ExportFilters) -> _S:
    statement = statement.where(PlanktonObjectRow.project_id == project_id)
    if filters.statuses:
        statement = statement.where(PlanktonObjectRow.status.in_(list(filters.statuses)))
    if filters.categories:
        statement = statement.where(PlanktonObjectRow.category.in_(list(filters.categories)))
    return statement


def count_export_objects(session: Session, project_id: int, filters: ExportFilters) -> int:
    statement = _filtered(select(func.count()).select_from(PlanktonObjectRow), project_id, filters)
    return int(session.scalar(statement) or 0)


def export_feature_names(session: Session, project_id: int, filters: ExportFilters) -> list[str]:
    """The measurement names of the first exported object (every object of a feature-set
    version has the same); empty when nothing matches."""
    statement = _filtered(select(PlanktonObjectRow.features), project_id, filters).limit(1)
    first = session.scalar(statement)
    return list(json.loads(first)) if first else []


def export_job_ids(session: Session, project_id: int, filters: ExportFilters) -> list[int]:
    statement = _filtered(select(PlanktonObjectRow.job_id).distinct(), project_id, filters)
    return sorted(job for job in session.scalars(statement) if job is not None)


def export_rows(
    session: Session,
    project_id: int,
    filters: ExportFilters,
    settings_by_job: Mapping[int, Mapping[str, Any]] | None = None,
) -> Iterator[tuple[EcotaxaRow, str | None]]:
    """Every matching object as ``(EcotaxaRow, crop blob key)``, in (frame, rank) order."""
    settings_by_job = settings_by_job or {}
    # Columns, not entities: plain rows never enter the session's identity map, so memory stays
    # one batch whatever the project's size.
    o, f = PlanktonObjectRow, FrameRow
    columns = (
        o.id, o.rank, o.min_row, o.min_col, o.max_row, o.max_col, o.centroid_row, o.centroid_col,
        o.features, o.feature_set_version, o.category, o.probability, o.status, o.annotated_by_name,
        o.annotated_at, o.model_name, o.model_version, o.job_id, o.crop_key,
        f.file_name, f.sample_id, f.acq_id, f.latitude, f.longitude, f.depth_min, f.depth_max,
        f.taken_at, f.width, f.height,
    )
    statement = (
        _filtered(select(*columns).join(f, f.id == o.frame_id), project_id, filters)
        .order_by(o.frame_id, o.rank)
        .execution_options(yield_per=BATCH)
    )
    for r in session.execute(statement):
        yield (
            EcotaxaRow(
                object_pk=r.id,
                rank=r.rank,
                frame_file_name=r.file_name,
                bbox=(r.min_row, r.min_col, r.max_row, r.max_col),
                centroid=(r.centroid_row, r.centroid_col),
                features=json.loads(r.features),
                feature_set_version=r.feature_set_version,
                category=r.category,
                probability=r.probability,
                status=r.status,
                annotated_by_name=r.annotated_by_name,
                annotated_at=r.annotated_at,
                sample_id=r.sample_id,
                acq_id=r.acq_id,
                latitude=r.latitude,
                longitude=r.longitude,
                depth_min=r.depth_min,
                depth_max=r.depth_max,
                taken_at=r.taken_at,
                frame_width=r.width,
                frame_height=r.height,
                model_name=r.model_name,
                model_version=str(r.model_version),
                job_id=r.job_id,
                settings=settings_by_job.get(r.job_id, {}) if r.job_id is not None else {},
            ),
            r.crop_key,
        )
