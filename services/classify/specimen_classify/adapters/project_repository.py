"""Plankton projects, frames and objects over a SQLAlchemy session (issue 12).

Like :mod:`specimen_classify.adapters.scan_repository` it flushes and leaves committing to the
request's unit of work, except :func:`replace_frame_objects` when called outside a transaction
(the run pipeline's worker): then it commits its one transaction itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from specimen_classify.adapters.object_descriptor_repository import filter_conditions, vector_bytes
from specimen_classify.adapters.scan_repository import referenced_blob_keys as scan_blob_keys
from specimen_classify.adapters.tables import (
    FrameRow,
    ObjectAnnotationRow,
    ObjectDescriptorRow,
    PlanktonObjectRow,
    ProjectMemberRow,
    ProjectRow,
)
from specimen_classify.domain.errors import FrameNotFound
from specimen_classify.domain.plankton.projects import (
    Annotation,
    CategoryCount,
    Frame,
    FrameDraft,
    FrameMetadata,
    NewObject,
    ObjectFilters,
    ObjectStatus,
    PlanktonObject,
    Project,
    ProjectDraft,
    ProjectMember,
    ProjectRole,
    Sort,
)
from specimen_kit.database import lock_row
from specimen_kit.timestamps import utc_now


def _object_row(project_id: int, frame_id: int, job_id: int | None, new: NewObject,
                created_at: datetime) -> PlanktonObjectRow:
    min_row, min_col, max_row, max_col = new.bbox
    return PlanktonObjectRow(
        project_id=project_id, frame_id=frame_id, job_id=job_id, rank=new.rank,
        min_row=min_row, min_col=min_col, max_row=max_row, max_col=max_col,
        centroid_row=float(new.centroid[0]), centroid_col=float(new.centroid[1]),
        features=json.dumps(new.features, sort_keys=True),
        feature_set_version=new.feature_set_version, crop_key=new.crop_key,
        mask_key=new.mask_key, mask_png=new.mask_png, category=new.category,
        probability=float(new.probability),
        scores=json.dumps(new.scores, sort_keys=True), model_name=new.model_name,
        model_version=new.model_version, status=new.status, created_at=created_at)


def replace_frame_objects(session: Session, frame_id: int, job_id: int | None,
                          objects: Sequence[NewObject]) -> int:
    """Delete ``frame_id``'s objects (their annotation history with them) and insert
    ``objects`` in one transaction; returns how many were inserted.

    Idempotent: re-running a frame (a retry, a worker killed mid-frame) leaves exactly the last
    run's objects. Called with a session that is not in a transaction, it begins and commits
    one; inside the caller's transaction it only flushes (the caller commits or rolls back).
    The replaced objects' crop and mask blobs are left to ``sweep-orphans``.
    Raises :class:`~specimen_classify.domain.errors.FrameNotFound` when the frame is gone
    (deleted while its run was going).
    """
    ranks = [new.rank for new in objects]
    if len(set(ranks)) != len(ranks) or any(rank < 1 for rank in ranks):
        raise ValueError("object ranks must be distinct and start at 1")
    own_transaction = not session.in_transaction()
    try:
        project_id = session.scalar(select(FrameRow.project_id).where(FrameRow.id == frame_id)
                                    .with_for_update())
        if project_id is None:
            raise FrameNotFound(frame_id)
        old = select(PlanktonObjectRow.id).where(PlanktonObjectRow.frame_id == frame_id)
        # Explicit rather than trusting ON DELETE CASCADE: SQLite honours it only per connection.
        session.execute(delete(ObjectAnnotationRow).where(ObjectAnnotationRow.object_id.in_(old)))
        session.execute(delete(ObjectDescriptorRow).where(ObjectDescriptorRow.object_id.in_(old)))
        session.execute(delete(PlanktonObjectRow).where(PlanktonObjectRow.frame_id == frame_id))
        now = utc_now()
        rows = [_object_row(project_id, frame_id, job_id, new, now) for new in objects]
        session.add_all(rows)
        session.flush()
        session.add_all([
            ObjectDescriptorRow(object_id=row.id, project_id=project_id,
                                descriptor_set_version=new.descriptor_version,
                                vector=vector_bytes(new.descriptor))
            for row, new in zip(rows, objects, strict=True)
            if new.descriptor is not None and new.descriptor_version is not None])
        session.flush()
        if own_transaction:
            session.commit()
    except BaseException:
        if own_transaction:
            session.rollback()
        raise
    return len(objects)


def project_blob_keys(session: Session) -> set[str]:
    """Every blob key the projects' frames and objects reference (frames, crops, masks)."""
    keys = set(session.scalars(select(FrameRow.image_key)))
    for crop_key, mask_key in session.execute(
            select(PlanktonObjectRow.crop_key, PlanktonObjectRow.mask_key)):
        keys.update(key for key in (crop_key, mask_key) if key)
    return keys


def referenced_blob_keys(session: Session) -> set[str]:
    """Every blob key a row of this service references (``sweep-orphans`` keeps exactly these):
    the scans' images and the projects' frames, crops and masks."""
    return scan_blob_keys(session) | project_blob_keys(session)


# --- the repository of the use-cases (specimen_classify.domain.plankton.project_records) ------

_PROJECT_SORT: dict[str, InstrumentedAttribute[Any]] = {
    "id": ProjectRow.id, "name": ProjectRow.name, "created_at": ProjectRow.created_at,
    "updated_at": ProjectRow.updated_at,
}
_FRAME_SORT: dict[str, InstrumentedAttribute[Any]] = {
    "id": FrameRow.id, "file_name": FrameRow.file_name, "created_at": FrameRow.created_at,
    "taken_at": FrameRow.taken_at, "sample_id": FrameRow.sample_id,
}
_OBJECT_SORT: dict[str, InstrumentedAttribute[Any]] = {
    "id": PlanktonObjectRow.id, "probability": PlanktonObjectRow.probability,
    "category": PlanktonObjectRow.category, "annotated_at": PlanktonObjectRow.annotated_at,
    "created_at": PlanktonObjectRow.created_at,
}


def _project(row: ProjectRow) -> Project:
    return Project(id=row.id, name=row.name, description=row.description,
                   instrument=row.instrument, pixel_size_um=row.pixel_size_um,
                   settings=json.loads(row.settings or "{}"), owner_id=row.owner_id,
                   created_at=row.created_at, updated_at=row.updated_at)


def _frame(row: FrameRow) -> Frame:
    return Frame(id=row.id, project_id=row.project_id, file_name=row.file_name,
                 image_key=row.image_key, media_type=row.media_type, bytes=row.bytes,
                 width=row.width, height=row.height, created_by=row.created_by,
                 created_at=row.created_at, metadata=FrameMetadata(
                     sample_id=row.sample_id, acq_id=row.acq_id, latitude=row.latitude,
                     longitude=row.longitude, depth_min=row.depth_min, depth_max=row.depth_max,
                     taken_at=row.taken_at))


def _object(row: PlanktonObjectRow, file_name: str = "", sample_id: str | None = None
            ) -> PlanktonObject:
    return PlanktonObject(
        id=row.id, project_id=row.project_id, frame_id=row.frame_id, job_id=row.job_id,
        rank=row.rank, bbox=(row.min_row, row.min_col, row.max_row, row.max_col),
        centroid=(row.centroid_row, row.centroid_col), features=json.loads(row.features),
        feature_set_version=row.feature_set_version, crop_key=row.crop_key,
        mask_key=row.mask_key, category=row.category, probability=row.probability,
        scores=json.loads(row.scores), model_name=row.model_name,
        model_version=row.model_version, status=cast(ObjectStatus, row.status),
        annotated_by=row.annotated_by, annotated_by_name=row.annotated_by_name,
        annotated_at=row.annotated_at, created_at=row.created_at, frame_file_name=file_name,
        sample_id=sample_id)


def _ordered(column: InstrumentedAttribute[Any], tie: InstrumentedAttribute[Any],
             sort: Sort) -> tuple[Any, Any]:
    # NULLs last either way (they sort apart on each database); the id breaks ties the same
    # way, so that pages never overlap.
    order = column.desc() if sort.descending else column.asc()
    return order.nulls_last(), (tie.desc() if sort.descending else tie.asc())


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlProjectRepository:
    """The :class:`~specimen_classify.domain.plankton.project_records.ProjectRepository` port."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # projects

    def add_project(self, draft: ProjectDraft) -> Project:
        row = ProjectRow(name=draft.name, description=draft.description,
                         instrument=draft.instrument, pixel_size_um=draft.pixel_size_um,
                         settings=json.dumps(draft.settings, sort_keys=True),
                         owner_id=draft.owner_id, created_at=draft.created_at,
                         updated_at=draft.created_at)
        self._session.add(row)
        self._session.flush()
        return _project(row)

    def get_project(self, project_id: int) -> Project | None:
        row = self._session.get(ProjectRow, project_id)
        return None if row is None else _project(row)

    def lock_project(self, project_id: int) -> bool:
        """Take the project's row lock until the transaction ends (PostgreSQL: the row;
        SQLite: the database's write lock), so that concurrent uploads and member changes of
        one project run one after the other; False when the project is gone."""
        result = self._session.execute(
            update(ProjectRow).where(ProjectRow.id == project_id)
            .values(updated_at=ProjectRow.updated_at)
            .execution_options(synchronize_session=False))
        return bool(getattr(result, "rowcount", 0))

    def project_exists(self, project_id: int) -> bool:
        """Whether the project is there now: read anew, not from the session's identity map."""
        return self._session.scalar(select(ProjectRow.id).where(ProjectRow.id == project_id)) is not None

    def save_project(self, project: Project) -> None:
        self._session.execute(
            update(ProjectRow).where(ProjectRow.id == project.id).values(
                name=project.name, description=project.description,
                instrument=project.instrument, pixel_size_um=project.pixel_size_um,
                settings=json.dumps(project.settings, sort_keys=True),
                updated_at=project.updated_at)
            .execution_options(synchronize_session=False))

    def delete_project(self, project_id: int) -> list[str]:
        # The project's row first: a write naming the project (a run, an export, a frame) that
        # comes after waits for this delete, then meets the foreign key (404); one before it is
        # waited for and deleted with the rest. Children first took row locks in the other
        # order than such a write and deadlocked with it on PostgreSQL (503).
        lock_row(self._session, select(ProjectRow.id).where(ProjectRow.id == project_id))
        keys = list(self._session.scalars(select(FrameRow.image_key)
                                          .where(FrameRow.project_id == project_id)))
        keys += self._object_keys(PlanktonObjectRow.project_id == project_id)
        objects = select(PlanktonObjectRow.id).where(PlanktonObjectRow.project_id == project_id)
        # Explicit rather than trusting ON DELETE CASCADE alone.
        self._session.execute(delete(ObjectAnnotationRow)
                              .where(ObjectAnnotationRow.object_id.in_(objects)))
        self._session.execute(delete(ObjectDescriptorRow)
                              .where(ObjectDescriptorRow.project_id == project_id))
        self._session.execute(delete(PlanktonObjectRow)
                              .where(PlanktonObjectRow.project_id == project_id))
        self._session.execute(delete(FrameRow).where(FrameRow.project_id == project_id))
        self._session.execute(delete(ProjectMemberRow)
                              .where(ProjectMemberRow.project_id == project_id))
        self._session.execute(delete(ProjectRow).where(ProjectRow.id == project_id))
        return keys

    def _object_keys(self, where: ColumnElement[bool]) -> list[str]:
        keys: list[str] = []
        for crop_key, mask_key in self._session.execute(
                select(PlanktonObjectRow.crop_key, PlanktonObjectRow.mask_key).where(where)):
            keys += [key for key in (crop_key, mask_key) if key]
        return keys

    def page_projects(self, member_id: int | None, q: str | None, sort: Sort, limit: int,
                      offset: int) -> tuple[list[tuple[Project, ProjectRole | None]], int]:
        role = (select(ProjectMemberRow.role)
                .where(ProjectMemberRow.project_id == ProjectRow.id,
                       ProjectMemberRow.user_id == (member_id or 0))
                .scalar_subquery())
        conditions: list[ColumnElement[bool]] = []
        if member_id is not None:
            conditions.append(or_(ProjectRow.owner_id == member_id, role.is_not(None)))
        if q:
            pattern = _like(q)
            conditions.append(or_(ProjectRow.name.ilike(pattern, escape="\\"),
                                  ProjectRow.description.ilike(pattern, escape="\\")))
        total = self._session.scalar(
            select(func.count(ProjectRow.id)).where(*conditions)) or 0
        rows = self._session.execute(
            select(ProjectRow, role).where(*conditions)
            .order_by(*_ordered(_PROJECT_SORT[sort.field], ProjectRow.id, sort))
            .limit(limit).offset(offset))
        return [(_project(row), ProjectRole(found) if found else None)
                for row, found in rows], total

    # members

    def members(self, project_id: int) -> list[ProjectMember]:
        rows = self._session.scalars(select(ProjectMemberRow)
                                     .where(ProjectMemberRow.project_id == project_id))
        return [ProjectMember(row.project_id, row.user_id, ProjectRole(row.role), row.added_at)
                for row in rows]

    def put_member(self, member: ProjectMember) -> bool:
        row = self._session.get(ProjectMemberRow, (member.project_id, member.user_id))
        if row is not None:
            row.role = member.role.value
            self._session.flush()
            return False
        self._session.add(ProjectMemberRow(project_id=member.project_id, user_id=member.user_id,
                                           role=member.role.value, added_at=member.added_at))
        self._session.flush()
        return True

    def delete_member(self, project_id: int, user_id: int) -> bool:
        result = self._session.execute(
            delete(ProjectMemberRow).where(ProjectMemberRow.project_id == project_id,
                                           ProjectMemberRow.user_id == user_id))
        return bool(getattr(result, "rowcount", 0))

    # frames

    def frame_names(self, project_id: int, names: Sequence[str]) -> set[str]:
        found: set[str] = set()
        unique = list(dict.fromkeys(names))
        for start in range(0, len(unique), 500):
            found.update(self._session.scalars(
                select(FrameRow.file_name).where(FrameRow.project_id == project_id,
                                                 FrameRow.file_name.in_(unique[start:start + 500]))))
        return found

    def add_frame(self, draft: FrameDraft) -> Frame:
        meta = draft.metadata
        row = FrameRow(project_id=draft.project_id, file_name=draft.file_name,
                       image_key=draft.image_key, media_type=draft.media_type, bytes=draft.bytes,
                       width=draft.width, height=draft.height, sample_id=meta.sample_id,
                       acq_id=meta.acq_id, latitude=meta.latitude, longitude=meta.longitude,
                       depth_min=meta.depth_min, depth_max=meta.depth_max,
                       taken_at=meta.taken_at, created_by=draft.created_by,
                       created_at=draft.created_at)
        self._session.add(row)
        self._session.flush()
        return _frame(row)

    def get_frame(self, frame_id: int) -> Frame | None:
        row = self._session.get(FrameRow, frame_id)
        return None if row is None else _frame(row)

    def page_frames(self, project_id: int, sample_id: str | None, sort: Sort, limit: int,
                    offset: int) -> tuple[list[Frame], int]:
        conditions = [FrameRow.project_id == project_id]
        if sample_id is not None:
            conditions.append(FrameRow.sample_id == sample_id)
        total = self._session.scalar(select(func.count(FrameRow.id)).where(*conditions)) or 0
        rows = self._session.scalars(
            select(FrameRow).where(*conditions)
            .order_by(*_ordered(_FRAME_SORT[sort.field], FrameRow.id, sort))
            .limit(limit).offset(offset))
        return [_frame(row) for row in rows], total

    def delete_frame(self, frame_id: int) -> list[str]:
        row = self._session.get(FrameRow, frame_id)
        if row is None:
            return []
        keys = [row.image_key, *self._object_keys(PlanktonObjectRow.frame_id == frame_id)]
        objects = select(PlanktonObjectRow.id).where(PlanktonObjectRow.frame_id == frame_id)
        self._session.execute(delete(ObjectAnnotationRow)
                              .where(ObjectAnnotationRow.object_id.in_(objects)))
        self._session.execute(delete(ObjectDescriptorRow)
                              .where(ObjectDescriptorRow.object_id.in_(objects)))
        self._session.execute(delete(PlanktonObjectRow)
                              .where(PlanktonObjectRow.frame_id == frame_id))
        self._session.execute(delete(FrameRow).where(FrameRow.id == frame_id))
        return keys

    # objects

    def get_object(self, object_id: int) -> PlanktonObject | None:
        found = self._session.execute(
            select(PlanktonObjectRow, FrameRow.file_name, FrameRow.sample_id)
            .join(FrameRow, FrameRow.id == PlanktonObjectRow.frame_id)
            .where(PlanktonObjectRow.id == object_id)).first()
        return None if found is None else _object(*found)

    def object_mask_png(self, object_id: int) -> bytes | None:
        mask: bytes | None = self._session.scalar(
            select(PlanktonObjectRow.mask_png).where(PlanktonObjectRow.id == object_id))
        return mask

    def page_objects(self, project_id: int, filters: ObjectFilters, sort: Sort, limit: int,
                     offset: int) -> tuple[list[PlanktonObject], int]:
        conditions = filter_conditions(project_id, filters)
        joined = (select(func.count(PlanktonObjectRow.id))
                  .join(FrameRow, FrameRow.id == PlanktonObjectRow.frame_id).where(*conditions))
        total = self._session.scalar(joined) or 0
        rows = self._session.execute(
            select(PlanktonObjectRow, FrameRow.file_name, FrameRow.sample_id)
            .join(FrameRow, FrameRow.id == PlanktonObjectRow.frame_id).where(*conditions)
            .order_by(*_ordered(_OBJECT_SORT[sort.field], PlanktonObjectRow.id, sort))
            .limit(limit).offset(offset))
        return [_object(*row) for row in rows], total

    def history(self, object_id: int) -> list[Annotation]:
        rows = self._session.scalars(
            select(ObjectAnnotationRow).where(ObjectAnnotationRow.object_id == object_id)
            .order_by(ObjectAnnotationRow.at.desc(), ObjectAnnotationRow.id.desc()))
        return [Annotation(row.category, cast(ObjectStatus, row.status), row.user_id,
                           row.user_name, row.at) for row in rows]

    def existing_object_ids(self, project_id: int, ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(ids), 500):
            found.update(self._session.scalars(
                select(PlanktonObjectRow.id).where(
                    PlanktonObjectRow.project_id == project_id,
                    PlanktonObjectRow.id.in_(list(ids[start:start + 500])))))
        return found

    def annotate(self, project_id: int, ids: Sequence[int], category: str | None,
                 status: ObjectStatus, user_id: int, user_name: str | None,
                 at: datetime) -> int:
        values: dict[str, Any] = {"status": status, "annotated_by": user_id,
                                  "annotated_by_name": user_name, "annotated_at": at}
        if category is not None:
            values["category"] = category
        changed = 0
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            result = self._session.execute(
                update(PlanktonObjectRow).where(PlanktonObjectRow.project_id == project_id,
                                                PlanktonObjectRow.id.in_(chunk))
                .values(**values).execution_options(synchronize_session=False))
            changed += int(getattr(result, "rowcount", 0) or 0)
            self._session.add_all([
                ObjectAnnotationRow(object_id=object_id, category=now_category, status=status,
                                    user_id=user_id, user_name=user_name, at=at)
                for object_id, now_category in self._session.execute(
                    select(PlanktonObjectRow.id, PlanktonObjectRow.category)
                    .where(PlanktonObjectRow.id.in_(chunk)))])
        self._session.flush()
        return changed

    def counts(self, project_id: int) -> list[CategoryCount]:
        rows = self._session.execute(
            select(PlanktonObjectRow.category, PlanktonObjectRow.status,
                   func.count(PlanktonObjectRow.id))
            .where(PlanktonObjectRow.project_id == project_id)
            .group_by(PlanktonObjectRow.category, PlanktonObjectRow.status)
            .order_by(PlanktonObjectRow.category, PlanktonObjectRow.status))
        return [CategoryCount(category, cast(ObjectStatus, status), count)
                for category, status, count in rows]
