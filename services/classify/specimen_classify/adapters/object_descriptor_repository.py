"""Object descriptors over a SQLAlchemy session (flushes, never commits), and the in-process cache.

The vectors live in ``object_descriptors`` (SQLite or PostgreSQL, which has no pgvector here),
one row per object with its project; a search ranks one project's rows exactly, in memory.
:class:`ProjectVectorCache` keeps recently searched projects' matrices between requests
(:class:`specimen_kit.stamped_cache.StampedCache`, as segment's owners) and reloads one when its
``(row count, largest id)`` stamp in the database moved. Rows are only inserted and deleted,
never updated (``put``, a re-run frame's ``replace_frame_objects``, the backfill insert rows
with new, never reused ids; a deleted frame, object or project, ``delete_other_versions`` lower
the count), and an object never changes project, so every replica sees every write on its next
search. ``POST /objects/search`` composes the same per-project entries: the projects of the
caller and their stamps come from one query that joins the membership, read on every search,
so a membership change is seen at once too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session

from specimen_classify.adapters.tables import (
    FrameRow,
    ObjectDescriptorRow,
    PlanktonObjectRow,
    ProjectMemberRow,
    ProjectRow,
)
from specimen_classify.domain.plankton.projects import ObjectFilters
from specimen_kit.stamped_cache import StampedCache

_VECTOR_DTYPE = np.dtype("<f4")


def vector_bytes(vector: npt.NDArray[np.float32]) -> bytes:
    return np.asarray(vector, _VECTOR_DTYPE).tobytes()


@dataclass(frozen=True)
class ProjectVectors:
    """One project's descriptors of one version: ``object_ids`` (n,) and ``vectors`` (n, d)."""

    object_ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]

    @classmethod
    def empty(cls, dimensions: int) -> ProjectVectors:
        return cls(np.zeros(0, np.int64), np.zeros((0, dimensions), np.float32))


def filter_conditions(project_id: int, filters: ObjectFilters) -> list[ColumnElement[bool]]:
    """The review list's filters as SQL conditions (the listing and the search share them)."""
    conditions: list[ColumnElement[bool]] = [PlanktonObjectRow.project_id == project_id]
    if filters.category is not None:
        conditions.append(PlanktonObjectRow.category == filters.category)
    if filters.status is not None:
        conditions.append(PlanktonObjectRow.status == filters.status)
    if filters.probability_min is not None:
        conditions.append(PlanktonObjectRow.probability >= filters.probability_min)
    if filters.probability_max is not None:
        conditions.append(PlanktonObjectRow.probability <= filters.probability_max)
    if filters.frame_id is not None:
        conditions.append(PlanktonObjectRow.frame_id == filters.frame_id)
    if filters.sample_id is not None:
        conditions.append(FrameRow.sample_id == filters.sample_id)
    return conditions


class SqlObjectDescriptorRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def put(self, object_id: int, project_id: int, version: str,
            vector: npt.NDArray[np.float32]) -> None:
        """Store an object's descriptor, replacing the one it had."""
        self._session.execute(delete(ObjectDescriptorRow)
                              .where(ObjectDescriptorRow.object_id == object_id))
        self._session.add(ObjectDescriptorRow(object_id=object_id, project_id=project_id,
                                              descriptor_set_version=version,
                                              vector=vector_bytes(vector)))
        self._session.flush()

    def vector_of(self, object_id: int, version: str) -> npt.NDArray[np.float32] | None:
        data = self._session.scalar(select(ObjectDescriptorRow.vector).where(
            ObjectDescriptorRow.object_id == object_id,
            ObjectDescriptorRow.descriptor_set_version == version))
        return None if data is None else np.frombuffer(data, _VECTOR_DTYPE).astype(np.float32)

    def scope_stamp(self, project_id: int, version: str) -> tuple[int, int]:
        count, largest = self._session.execute(
            select(func.count(ObjectDescriptorRow.id),
                   func.coalesce(func.max(ObjectDescriptorRow.id), 0))
            .where(ObjectDescriptorRow.project_id == project_id,
                   ObjectDescriptorRow.descriptor_set_version == version)).one()
        return int(count), int(largest)

    def load_scope(self, project_id: int, version: str, dimensions: int) -> ProjectVectors:
        rows = self._session.execute(
            select(ObjectDescriptorRow.object_id, ObjectDescriptorRow.vector)
            .where(ObjectDescriptorRow.project_id == project_id,
                   ObjectDescriptorRow.descriptor_set_version == version)
            .order_by(ObjectDescriptorRow.id)).all()
        if not rows:
            return ProjectVectors.empty(dimensions)
        ids = np.fromiter((row[0] for row in rows), np.int64, len(rows))
        vectors = np.frombuffer(b"".join(row[1] for row in rows), _VECTOR_DTYPE)
        return ProjectVectors(ids, vectors.reshape(len(rows), dimensions).astype(np.float32))

    def member_stamps(self, member_id: int | None, version: str) -> dict[int, tuple[int, int]]:
        """``{project id: (row count, largest id)}`` of the rows of ``version`` of every project
        ``member_id`` owns or has a member row in (None: every project), each the project's
        :meth:`scope_stamp`; projects without rows are left out. The membership is a condition
        of this query, read on every search."""
        query = (select(ObjectDescriptorRow.project_id, func.count(ObjectDescriptorRow.id),
                        func.max(ObjectDescriptorRow.id))
                 .where(ObjectDescriptorRow.descriptor_set_version == version)
                 .group_by(ObjectDescriptorRow.project_id))
        if member_id is not None:
            member_of = select(ProjectMemberRow.project_id).where(
                ProjectMemberRow.user_id == member_id)
            owned = select(ProjectRow.id).where(ProjectRow.owner_id == member_id)
            query = query.where(or_(ObjectDescriptorRow.project_id.in_(member_of),
                                    ObjectDescriptorRow.project_id.in_(owned)))
        return {int(project): (int(count), int(largest))
                for project, count, largest in self._session.execute(query)}

    def matching_ids(self, project_id: int, filters: ObjectFilters) -> npt.NDArray[np.int64]:
        """Ids of the project's objects that pass ``filters`` (the candidates of a search)."""
        query = select(PlanktonObjectRow.id).where(*filter_conditions(project_id, filters))
        if filters.sample_id is not None:
            query = query.join(FrameRow, FrameRow.id == PlanktonObjectRow.frame_id)
        return np.fromiter(self._session.scalars(query), np.int64)

    def undescribed(self, version: str, project_id: int | None = None
                    ) -> Iterator[tuple[int, int, str]]:
        """``(frame id, project id, frame image key)`` of every frame with an object lacking a
        descriptor of ``version`` (the backfill works frame by frame: one decode each)."""
        described = select(ObjectDescriptorRow.id).where(
            ObjectDescriptorRow.object_id == PlanktonObjectRow.id,
            ObjectDescriptorRow.descriptor_set_version == version).exists()
        query = (select(FrameRow.id, FrameRow.project_id, FrameRow.image_key)
                 .where(select(PlanktonObjectRow.id).where(
                     PlanktonObjectRow.frame_id == FrameRow.id, ~described).exists())
                 .order_by(FrameRow.id))
        if project_id is not None:
            query = query.where(FrameRow.project_id == project_id)
        for row in self._session.execute(query):
            yield row[0], row[1], row[2]

    def frame_objects(self, frame_id: int, version: str
                      ) -> list[tuple[int, tuple[int, int, int, int], bytes | None, str | None]]:
        """``(object id, bbox, mask PNG, mask blob key)`` of the frame's objects lacking
        ``version`` (a run's object has its mask PNG in its row, an older one a blob key)."""
        described = select(ObjectDescriptorRow.id).where(
            ObjectDescriptorRow.object_id == PlanktonObjectRow.id,
            ObjectDescriptorRow.descriptor_set_version == version).exists()
        rows = self._session.execute(
            select(PlanktonObjectRow.id, PlanktonObjectRow.min_row, PlanktonObjectRow.min_col,
                   PlanktonObjectRow.max_row, PlanktonObjectRow.max_col, PlanktonObjectRow.mask_png,
                   PlanktonObjectRow.mask_key)
            .where(PlanktonObjectRow.frame_id == frame_id, ~described)
            .order_by(PlanktonObjectRow.id))
        return [(row[0], (row[1], row[2], row[3], row[4]), row[5], row[6]) for row in rows]

    def delete_other_versions(self, version: str) -> int:
        result = self._session.execute(delete(ObjectDescriptorRow).where(
            ObjectDescriptorRow.descriptor_set_version != version))
        return int(getattr(result, "rowcount", 0) or 0)

    def count_missing(self, version: str, object_ids: Sequence[int]) -> int:
        if not object_ids:
            return 0
        found = self._session.scalar(select(func.count(ObjectDescriptorRow.id)).where(
            ObjectDescriptorRow.object_id.in_(list(object_ids)),
            ObjectDescriptorRow.descriptor_set_version == version)) or 0
        return len(object_ids) - int(found)


class ProjectVectorCache:
    """Projects' descriptor matrices between requests; at most ``max_vectors`` rows in all (the
    least recently searched projects go first); an entry is used only while its stamp in the
    database is unchanged. Thread-safe."""

    def __init__(self, max_vectors: int) -> None:
        self._projects: StampedCache[tuple[int, str], ProjectVectors] = StampedCache(
            max_vectors, rows_of=lambda scope: scope.vectors.shape[0])

    @property
    def loads(self) -> int:
        """How many times a project's rows were read from the database (tests watch it)."""
        return self._projects.loads

    def vectors(self, project_id: int, version: str, dimensions: int,
                rows: SqlObjectDescriptorRepository) -> ProjectVectors:
        return self._projects.get((project_id, version), rows.scope_stamp(project_id, version),
                                  partial(rows.load_scope, project_id, version, dimensions))

    def member_vectors(self, member_id: int | None, version: str, dimensions: int,
                       rows: SqlObjectDescriptorRepository) -> ProjectVectors:
        """The rows of every project ``member_id`` belongs to (None: every project), from the
        projects' entries (:meth:`SqlObjectDescriptorRepository.member_stamps` says which)."""
        scopes = [self._projects.get((project_id, version), stamp,
                                     partial(rows.load_scope, project_id, version, dimensions))
                  for project_id, stamp in sorted(rows.member_stamps(member_id, version).items())]
        if not scopes:
            return ProjectVectors.empty(dimensions)
        if len(scopes) == 1:
            return scopes[0]
        return ProjectVectors(np.concatenate([scope.object_ids for scope in scopes]),
                              np.concatenate([scope.vectors for scope in scopes]))

    def __len__(self) -> int:
        return len(self._projects)
