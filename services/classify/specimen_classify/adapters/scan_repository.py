"""Scan records over a SQLAlchemy session. It flushes, never commits: the request's session
dependency (:mod:`specimen_classify.api.deps`) commits or rolls back."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, Select, delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from specimen_classify.adapters.scan_descriptor_repository import refile_scan_descriptors
from specimen_classify.adapters.tables import ScanClassificationRow, ScanRow
from specimen_classify.domain.predictions import ModelVersion, MriLabel
from specimen_classify.domain.scans import (
    Classification,
    PatientGender,
    Scan,
    ScanDraft,
    ScanFilters,
    ScanImage,
    ScanSort,
)

_SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "id": ScanRow.id, "created_at": ScanRow.created_at, "updated_at": ScanRow.updated_at,
    "classified_at": ScanRow.classified_at, "tumor_probability": ScanRow.tumor_probability,
    "patient_ref": ScanRow.patient_ref,
}


def _scan(row: ScanRow) -> Scan:
    return Scan(
        id=row.id, hospital=row.hospital, patient_gender=cast(PatientGender, row.patient_gender),
        true_label=cast(MriLabel | None, row.true_label), notes=row.notes,
        created_by=row.created_by, created_at=row.created_at, updated_at=row.updated_at,
        classification=_classification(row), patient_ref=row.patient_ref,
        image=ScanImage(key=row.image_key, media_type=row.image_media_type,
                        bytes=row.image_bytes))


def _classification(row: ScanRow | ScanClassificationRow) -> Classification:
    return Classification(
        label=cast(MriLabel, row.label), probability=row.probability,
        tumor_probability=row.tumor_probability,
        model=ModelVersion(row.model_name, row.model_version),
        crop_box=(row.crop_min_row, row.crop_min_col, row.crop_max_row, row.crop_max_col),
        classified_at=row.classified_at, decision_threshold=row.decision_threshold)


def _classification_columns(result: Classification) -> dict[str, Any]:
    min_row, min_col, max_row, max_col = result.crop_box
    return dict(label=result.label, probability=result.probability,
                tumor_probability=result.tumor_probability,
                decision_threshold=result.decision_threshold, model_name=result.model.name,
                model_version=result.model.version, crop_min_row=min_row, crop_min_col=min_col,
                crop_max_row=max_row, crop_max_col=max_col, classified_at=result.classified_at)


def _conditions(scope: str | None, filters: ScanFilters) -> list[ColumnElement[bool]]:
    """The WHERE clause: the caller's scope AND every filter given."""
    conditions: list[ColumnElement[bool]] = []
    if scope is not None:
        conditions.append(ScanRow.hospital == scope)
    if filters.hospital is not None:
        conditions.append(ScanRow.hospital == filters.hospital)
    if filters.patient_ref is not None:
        conditions.append(ScanRow.patient_ref == filters.patient_ref)
    if filters.label is not None:
        conditions.append(ScanRow.label == filters.label)
    if filters.true_label is not None:
        conditions.append(ScanRow.true_label == filters.true_label)
    if filters.patient_gender is not None:
        conditions.append(ScanRow.patient_gender == filters.patient_gender)
    if filters.model_version is not None:
        conditions.append(ScanRow.model_version == filters.model_version)
    if filters.created_after is not None:
        conditions.append(ScanRow.created_at >= filters.created_after)
    if filters.created_before is not None:
        conditions.append(ScanRow.created_at < filters.created_before)
    return conditions


_NEWEST_FIRST = ScanSort()


def _sorted(scope: str | None, filters: ScanFilters,
            sort: ScanSort = _NEWEST_FIRST) -> Select[ScanRow]:
    # The id breaks ties between scans of the same value, so pages never overlap. Scans without
    # a patient reference come last in either direction (NULLs sort apart on each database).
    column = _SORT_COLUMNS[sort.field]
    order = column.desc() if sort.descending else column.asc()
    tie = ScanRow.id.desc() if sort.descending else ScanRow.id.asc()
    return (select(ScanRow).where(*_conditions(scope, filters))
            .order_by(order.nulls_last(), tie))


class SqlScanRepository:
    """The :class:`~specimen_classify.domain.scans.ScanRepository` port on one session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, draft: ScanDraft) -> Scan:
        row = ScanRow(
            hospital=draft.hospital, patient_gender=draft.patient_gender,
            patient_ref=draft.patient_ref,
            true_label=draft.true_label, notes=draft.notes, created_by=draft.created_by,
            created_at=draft.created_at, updated_at=draft.created_at,
            image_key=draft.image.key, image_media_type=draft.image.media_type,
            image_bytes=draft.image.bytes, import_task_id=draft.import_task_id,
            **_classification_columns(draft.classification))
        self._session.add(row)
        self._session.flush()
        return _scan(row)

    def get(self, scan_id: int, scope: str | None) -> Scan | None:
        conditions = [ScanRow.id == scan_id]
        if scope is not None:
            conditions.append(ScanRow.hospital == scope)
        row = self._session.scalar(select(ScanRow).where(*conditions))
        return None if row is None else _scan(row)

    def by_import_task(self, task_id: int) -> Scan | None:
        row = self._session.scalar(select(ScanRow).where(ScanRow.import_task_id == task_id))
        return None if row is None else _scan(row)

    def page(self, scope: str | None, filters: ScanFilters, sort: ScanSort, limit: int,
             offset: int) -> tuple[list[Scan], int]:
        total = self.count(scope, filters)
        rows = self._session.scalars(_sorted(scope, filters, sort).limit(limit).offset(offset))
        return [_scan(row) for row in rows], total

    def count(self, scope: str | None, filters: ScanFilters) -> int:
        return self._session.scalar(
            select(func.count(ScanRow.id)).where(*_conditions(scope, filters))) or 0

    def every(self, scope: str | None, filters: ScanFilters) -> list[Scan]:
        return [_scan(row) for row in self._session.scalars(_sorted(scope, filters))]

    def save(self, scan: Scan) -> bool:
        before = self._session.scalar(select(ScanRow.hospital).where(ScanRow.id == scan.id))
        if before is not None and before != scan.hospital:
            # New descriptor ids, so both hospitals' search caches see the move (the rule of
            # scan_descriptor_repository).
            refile_scan_descriptors(self._session, scan.id)
        result = self._session.execute(
            update(ScanRow).where(ScanRow.id == scan.id).values(
                hospital=scan.hospital, patient_gender=scan.patient_gender,
                patient_ref=scan.patient_ref,
                true_label=scan.true_label, notes=scan.notes, updated_at=scan.updated_at,
                **_classification_columns(scan.classification))
            .execution_options(synchronize_session=False))
        return bool(getattr(result, "rowcount", 0))

    def delete(self, scan_id: int) -> None:
        # Explicit rather than trusting ON DELETE CASCADE: SQLite honours it only per connection.
        self._session.execute(delete(ScanClassificationRow)
                              .where(ScanClassificationRow.scan_id == scan_id))
        self._session.execute(delete(ScanRow).where(ScanRow.id == scan_id))

    def record_classification(self, scan_id: int, classification: Classification) -> None:
        self._session.add(ScanClassificationRow(scan_id=scan_id,
                                                **_classification_columns(classification)))
        self._session.flush()

    def classifications(self, scan_id: int, limit: int,
                        offset: int) -> tuple[list[Classification], int]:
        where = ScanClassificationRow.scan_id == scan_id
        total = self._session.scalar(
            select(func.count(ScanClassificationRow.id)).where(where)) or 0
        rows = self._session.scalars(
            select(ScanClassificationRow).where(where)
            .order_by(ScanClassificationRow.classified_at.desc(), ScanClassificationRow.id.desc())
            .limit(limit).offset(offset))
        return [_classification(row) for row in rows], total


def referenced_blob_keys(session: Session) -> set[str]:
    """Every image key a scan row references (``sweep-orphans`` keeps exactly these)."""
    return set(session.scalars(select(ScanRow.image_key)))
