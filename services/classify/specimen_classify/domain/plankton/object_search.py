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
    IMAGE_PART_SET_VERSION,
    OBJECT_DESCRIPTOR_VERSION,
    describe_object,
    describe_object_image,
    image_parts,
    rank_objects,
)
from specimen_classify.domain.plankton.project_records import ProjectRecords, ProjectRepository
from specimen_classify.domain.plankton.projects import (
    ObjectFilters,
    PlanktonObject,
    ProjectCaller,
    ProjectRole,
)
from specimen_classify.domain.search_vectors import query_descriptor, rank_grouped
from specimen_kit.errors import InvalidParameter
from specimen_kit.roles import Role


class ScopeVectors(Protocol):
    @property
    def object_ids(self) -> npt.NDArray[np.int64]: ...

    @property
    def vectors(self) -> npt.NDArray[np.float32]: ...


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


# --- across the caller's projects (``POST /objects/search``) ----------------------------------


class MemberDescriptorRows(Protocol):
    def vector_of(self, object_id: int, version: str) -> npt.NDArray[np.float32] | None: ...


class MemberIndex(Protocol):
    def member_vectors(self, member_id: int | None, version: str, dimensions: int,
                       rows: Any) -> ScopeVectors:
        """The rows of the objects of every project ``member_id`` belongs to (owner or member
        row; None: every project), the membership a condition of the query that reads them."""
        ...


@dataclass(frozen=True)
class MemberObjectQuery:
    """Exactly one of ``object_id``, ``crop`` (decoded pixels) and ``descriptor`` (+ version)."""

    limit: int
    object_id: int | None = None
    crop: npt.NDArray[Any] | None = None
    descriptor: tuple[float, ...] | None = None
    descriptor_set_version: str | None = None


def describe_crop_image(pixels: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """An uploaded crop's image part (set :data:`IMAGE_PART_SET_VERSION`), its organism found
    as :func:`describe_crop` finds it."""
    found = crop_object(pixels)
    if found is None or found.mask is None:
        raise InvalidParameter("image: the crop holds no object to search by; send a vignette "
                               "with the organism in its middle")
    return describe_object_image(pixels, found.mask, bright_on_dark=found.bright_on_dark)


class MemberObjectSearch:
    """``POST /objects/search``: objects of every project the caller belongs to, most like a query.

    - **Scoped inside the query.** The candidates are the rows of the projects the caller owns
      or is a member of (any role; an admin: every project), named on every search by a query
      that joins the membership: an object of a project the caller is not in is never ranked,
      even when it is the exact nearest. Each project's matrix is the one
      ``POST /projects/{id}/objects/search`` keeps (while its stamp is unchanged).
    - **One space with the library and the scans.** Objects are ranked by the image part of
      their descriptors (:func:`~specimen_classify.domain.plankton.object_similarity.image_parts`,
      descriptor set :data:`IMAGE_PART_SET_VERSION`, as segment's library and the scans), so a
      search across kinds (segment's ``sources``) merges comparable cosines. The features part,
      which sorts objects of one project best, is ``POST /projects/{id}/objects/search``'s.
    - **The query**: an object the caller may see (its stored descriptor's image part; left out
      of the answer; any other id is the object's 404), an uploaded crop, or a ``descriptor`` of
      set :data:`IMAGE_PART_SET_VERSION` (another version is a 422).
    """

    def __init__(self, projects: ProjectRecords, repository: ProjectRepository,
                 rows: MemberDescriptorRows, index: MemberIndex, *, max_limit: int,
                 describe: Callable[[npt.NDArray[Any]], npt.NDArray[np.float32]] = describe_crop_image
                 ) -> None:
        self._projects = projects
        self._repo = repository
        self._rows = rows
        self._index = index
        self._max_limit = max_limit
        self._describe = describe

    def search(self, caller: ProjectCaller, query: MemberObjectQuery) -> ObjectSearchAnswer:
        if not 1 <= query.limit <= self._max_limit:
            raise InvalidParameter(f"limit={query.limit} is out of range; use 1 to {self._max_limit}")
        given = [name for name, value in (("object_id", query.object_id), ("image", query.crop),
                                          ("descriptor", query.descriptor)) if value is not None]
        if len(given) != 1:
            raise InvalidParameter(
                f"search by one thing, not {' and '.join(given)}" if given else
                "nothing to search by: send an object_id, a crop (field 'image'), or a "
                "descriptor with its descriptor_set_version")
        if query.descriptor is None and query.descriptor_set_version not in (
                None, IMAGE_PART_SET_VERSION):
            raise InvalidParameter(f"descriptor_set_version {query.descriptor_set_version!r}: "
                                   f"objects are searched by set {IMAGE_PART_SET_VERSION!r}")
        vector = self._vector(caller, query)
        member = None if caller.role is Role.ADMIN else caller.user_id
        scope = self._index.member_vectors(member, OBJECT_DESCRIPTOR_VERSION, DIMENSIONS, self._rows)
        candidates = int(scope.object_ids.size) - int(
            query.object_id is not None and bool(np.isin(query.object_id, scope.object_ids)))
        hits = []
        for object_id, score in rank_grouped(vector, scope.object_ids, image_parts(scope.vectors),
                                             query.limit, exclude=query.object_id):
            found = self._repo.get_object(object_id)
            if found is not None:  # None: deleted (or its frame re-run) since the rows were read
                hits.append(ObjectHit(found, score))
        return ObjectSearchAnswer(hits, IMAGE_PART_SET_VERSION, candidates)

    def _vector(self, caller: ProjectCaller, query: MemberObjectQuery) -> npt.NDArray[np.float32]:
        if query.descriptor is not None:
            return query_descriptor(query.descriptor, query.descriptor_set_version,
                                    IMAGE_PART_SET_VERSION)
        if query.object_id is not None:
            found = self._projects.visible_object(caller, query.object_id)
            vector = self._rows.vector_of(found.id, OBJECT_DESCRIPTOR_VERSION)
            if vector is None:
                raise ObjectNotDescribed(found.id)
            part: npt.NDArray[np.float32] = image_parts(vector[None, :])[0]
            return part
        assert query.crop is not None
        return self._describe(query.crop)
