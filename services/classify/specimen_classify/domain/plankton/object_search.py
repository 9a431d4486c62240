"""``POST /projects/{id}/objects/search``: the project's objects that look most like a query.

Rules:

- **Access.** Any member of the project (viewer and up; its owner; an admin) may search it;
  anyone else gets the project's 404.
- **The query** is an object of the project (``object_id``: its stored descriptor; itself left
  out of the answer) or an uploaded crop, featurised as ``/classify/plankton`` ``input=crop``
  featurises one (:func:`~specimen_classify.domain.plankton.crops.crop_object`: bright-on-dark
  inverted, the organism found), then described by its mask
  (:func:`~specimen_classify.domain.plankton.object_similarity.describe_object`).
- **Scoped and filtered inside the query.** The candidates are the project's rows only (loaded
  by project id), narrowed by the review list's filters (category, status, probability range,
  frame, sample: the ids that pass them, read from the database) *before* ranking, so another
  project's identical object is never a candidate and a filter never empties the top-k.
- **Exact.** Every candidate's inner product (a project holds at most a few hundred thousand
  objects: BENCHMARKS.md "Similar-image search" measures exact search); the project's matrix is
  kept in process between searches while its ``(count, largest id)`` stamp is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from specimen_classify.domain.errors import ObjectNotDescribed
from specimen_classify.domain.plankton.crops import crop_object
from specimen_classify.domain.plankton.object_similarity import (
    DIMENSIONS,
    OBJECT_DESCRIPTOR_VERSION,
    describe_object,
    rank_objects,
)
from specimen_classify.domain.plankton.project_records import ProjectRecords, ProjectRepository
from specimen_classify.domain.plankton.projects import (
    ObjectFilters,
    PlanktonObject,
    ProjectCaller,
    ProjectRole,
)
from specimen_kit.errors import InvalidParameter


class ScopeVectors(Protocol):
    object_ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]


class DescriptorRows(Protocol):
    def vector_of(self, object_id: int, version: str) -> npt.NDArray[np.float32] | None: ...
    def matching_ids(self, project_id: int, filters: ObjectFilters) -> npt.NDArray[np.int64]: ...


class ProjectIndex(Protocol):
    def vectors(self, project_id: int, version: str, dimensions: int, rows: Any) -> ScopeVectors: ...


@dataclass(frozen=True)
class ObjectQuery:
    """Exactly one of ``object_id`` and ``crop`` (decoded pixels); ``filters``; ``limit``."""

    limit: int
    object_id: int | None = None
    crop: npt.NDArray[Any] | None = None
    filters: ObjectFilters = field(default_factory=ObjectFilters)


@dataclass(frozen=True)
class ObjectHit:
    object: PlanktonObject
    similarity: float


@dataclass(frozen=True)
class ObjectSearchAnswer:
    hits: list[ObjectHit]
    descriptor_set_version: str
    candidates: int
    """How many of the project's described objects passed the filters (were ranked)."""


def describe_crop(pixels: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """An uploaded crop's query vector: its organism as ``input=crop`` finds it."""
    found = crop_object(pixels)
    if found is None or found.mask is None:
        raise InvalidParameter("image: the crop holds no object to search by; send a vignette "
                               "with the organism in its middle")
    return describe_object(pixels, found.mask, bright_on_dark=found.bright_on_dark)


class ObjectSearch:
    """The search over a project's objects (the rules above)."""

    def __init__(self, projects: ProjectRecords, repository: ProjectRepository,
                 rows: DescriptorRows, index: ProjectIndex,
                 describe: Callable[[npt.NDArray[Any]], npt.NDArray[np.float32]] = describe_crop) -> None:
        self._projects = projects
        self._repo = repository
        self._rows = rows
        self._index = index
        self._describe = describe

    def search(self, caller: ProjectCaller, project_id: int, query: ObjectQuery) -> ObjectSearchAnswer:
        self._projects.require(caller, project_id, ProjectRole.VIEWER)
        if (query.object_id is None) == (query.crop is None):
            raise InvalidParameter(
                "search by one thing: an object_id of the project or an uploaded crop (field "
                "'image'), not both" if query.object_id is not None else
                "nothing to search by: send an object_id of the project or a crop (field 'image')")
        if query.object_id is not None:
            found = self._repo.get_object(query.object_id)
            if found is None or found.project_id != project_id:
                raise InvalidParameter(f"object_id {query.object_id} is not an object of project "
                                       f"{project_id}")
            vector = self._rows.vector_of(query.object_id, OBJECT_DESCRIPTOR_VERSION)
            if vector is None:
                raise ObjectNotDescribed(query.object_id)
        else:
            assert query.crop is not None
            vector = self._describe(query.crop)
        scope = self._index.vectors(project_id, OBJECT_DESCRIPTOR_VERSION, DIMENSIONS, self._rows)
        allowed = np.ones(scope.object_ids.shape[0], bool)
        if query.filters != ObjectFilters():
            allowed &= np.isin(scope.object_ids, self._rows.matching_ids(project_id, query.filters))
        if query.object_id is not None:
            allowed &= scope.object_ids != query.object_id
        hits = []
        for row, score in rank_objects(vector, scope.vectors, allowed, query.limit):
            found = self._repo.get_object(int(scope.object_ids[row]))
            if found is None or found.project_id != project_id:
                continue  # deleted (or its frame re-run) since the rows were read
            hits.append(ObjectHit(found, score))
        return ObjectSearchAnswer(hits, OBJECT_DESCRIPTOR_VERSION, int(allowed.sum()))
