"""Plankton projects: who may see and do what, and the objects a run writes (issue 12).

Pure types and rules, shared by the projects API, the run pipeline (jobs) and the export:

- **Roles.** A project's members are ``viewer`` < ``annotator`` < ``manager`` (EcoTaxa's View,
  Annotate, Manage). The owner is a manager whether or not they have a member row. A Specimen
  ``admin`` sees and does everything in every project (as a manager).
- **Access.** :func:`project_access` gives the caller's effective role in a project, or None:
  a project the caller cannot see answers 404 (never 403), so ids cannot be probed. A caller who
  sees the project but lacks the role an action needs gets 403 (:func:`require_role`).
- **What each role may do.** viewer: read the project, its members, frames, objects, counts,
  exports. annotator: also review objects (set category / status). manager: also edit and
  delete the project, manage members, upload and delete frames, start runs (EcoTaxa's Manage
  right imports too).
- **Objects.** :class:`NewObject` is what a run stores for one object of a frame;
  ``replace_frame_objects`` (:mod:`specimen_classify.adapters.project_repository`) swaps a
  frame's objects for a new set in one transaction, so a re-run never duplicates.
- **Status** follows EcoTaxa: ``predicted`` (the machine's answer), ``validated`` (a person
  confirmed the category), ``dubious`` (a person doubts it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol, get_args

from specimen_classify.domain.errors import ProjectRoleRequired
from specimen_kit.roles import Role


class ProjectRole(StrEnum):
    """A member's role in one project; ordered viewer < annotator < manager."""

    VIEWER = "viewer"
    ANNOTATOR = "annotator"
    MANAGER = "manager"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, minimum: ProjectRole) -> bool:
        return self.rank >= minimum.rank


_RANKS = {ProjectRole.VIEWER: 1, ProjectRole.ANNOTATOR: 2, ProjectRole.MANAGER: 3}
PROJECT_ROLES: tuple[str, ...] = tuple(role.value for role in ProjectRole)

ObjectStatus = Literal["predicted", "validated", "dubious"]
OBJECT_STATUSES: tuple[str, ...] = get_args(ObjectStatus)


class ProjectCaller(Protocol):
    """Who is asking, as the access token says (:class:`specimen_kit.tokens.Principal`)."""

    @property
    def user_id(self) -> int: ...

    @property
    def role(self) -> Role: ...


class OwnedProject(Protocol):
    @property
    def owner_id(self) -> int: ...


@dataclass(frozen=True)
class ProjectMember:
    """A user's role in a project (the owner may also have a row; they are a manager anyway)."""

    project_id: int
    user_id: int
    role: ProjectRole
    added_at: datetime


def project_access(user: ProjectCaller, project: OwnedProject,
                   members: Iterable[ProjectMember] | dict[int, ProjectRole]) -> ProjectRole | None:
    """The caller's effective role in ``project``; None when they may not see it (→ 404).

    An admin and the owner are managers; otherwise the caller's member row decides.
    ``members`` is the project's member rows, or a mapping user id → role.
    """
    if user.role is Role.ADMIN or user.user_id == project.owner_id:
        return ProjectRole.MANAGER
    if isinstance(members, dict):
        return members.get(user.user_id)
    for member in members:
        if member.user_id == user.user_id:
            return member.role
    return None


@dataclass(frozen=True)
class NewObject:
    """One object a run cut out of a frame, as stored by ``replace_frame_objects``.

    ``rank`` is 1, 2, … within the frame (the object's label in raster order; EcoTaxa's
    ``img_rank`` is per image file, and the crops are named by it); ``bbox`` is
    ``(min_row, min_col, max_row, max_col)``, max exclusive; ``crop_key`` is the blob key of
    the crop PNG; ``mask_png`` the mask PNG kept in the object's row (a run's objects) or
    ``mask_key`` its blob key (objects stored before migration 0008); None when not
    written. ``status`` is ``predicted``
    for a machine's answer. ``descriptor`` is the object's similarity vector
    (:func:`~specimen_classify.domain.plankton.object_similarity.describe_object`, float32) of
    ``descriptor_version``; None stores none (the backfill describes it later).
    """

    rank: int
    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]
    features: dict[str, float]
    feature_set_version: str
    category: str
    probability: float
    scores: dict[str, float]
    model_name: str
    model_version: int
    crop_key: str | None = None
    mask_key: str | None = None
    mask_png: bytes | None = None
    status: ObjectStatus = "predicted"
    descriptor: Any = None
    descriptor_version: str | None = None


def require_role(have: ProjectRole, needed: ProjectRole) -> None:
    """Raise :class:`ProjectRoleRequired` (403) unless ``have`` is at least ``needed``."""
    if not have.at_least(needed):
        raise ProjectRoleRequired(needed.value, have.value)


# --- entities ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    """A stored project. ``settings`` are its default pipeline settings (validated JSON)."""

    id: int
    name: str
    description: str | None
    instrument: str | None
    pixel_size_um: float | None
    settings: dict[str, Any]
    owner_id: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ProjectDraft:
    name: str
    description: str | None
    instrument: str | None
    pixel_size_um: float | None
    settings: dict[str, Any]
    owner_id: int
    created_at: datetime


@dataclass(frozen=True)
class FrameMetadata:
    """What is known of where and when a frame was taken (EcoTaxa's sample / acquisition /
    object columns); every field optional."""

    sample_id: str | None = None
    acq_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    depth_min: float | None = None
    depth_max: float | None = None
    taken_at: datetime | None = None


@dataclass(frozen=True)
class FrameDraft:
    project_id: int
    file_name: str
    image_key: str
    media_type: str
    bytes: int
    width: int
    height: int
    metadata: FrameMetadata
    created_by: int
    created_at: datetime


@dataclass(frozen=True)
class Frame(FrameDraft):
    id: int = 0


@dataclass(frozen=True)
class Annotation:
    """One change of an object's category or status."""

    category: str
    status: ObjectStatus
    user_id: int
    user_name: str | None
    at: datetime


@dataclass(frozen=True)
class PlanktonObject:
    """A stored object with the forest's answer and the latest review."""

    id: int
    project_id: int
    frame_id: int
    job_id: int | None
    rank: int
    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]
    features: dict[str, float]
    feature_set_version: str
    crop_key: str | None
    mask_key: str | None
    category: str
    probability: float
    scores: dict[str, float]
    model_name: str
    model_version: int
    status: ObjectStatus
    annotated_by: int | None
    annotated_by_name: str | None
    annotated_at: datetime | None
    created_at: datetime
    frame_file_name: str = ""
    sample_id: str | None = None


ObjectSortField = Literal["probability", "id", "category", "annotated_at", "created_at"]


@dataclass(frozen=True)
class ObjectFilters:
    category: str | None = None
    status: ObjectStatus | None = None
    probability_min: float | None = None
    probability_max: float | None = None
    frame_id: int | None = None
    sample_id: str | None = None


@dataclass(frozen=True)
class Sort:
    """A listing's order: a field, ascending unless ``descending``; ties by id the same way."""

    field: str
    descending: bool = False


@dataclass(frozen=True)
class CategoryCount:
    category: str
    status: ObjectStatus
    count: int
