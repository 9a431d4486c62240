"""Plankton projects: who may see and do what, and the objects a run writes (issue 12).

Pure types and rules, shared by the projects API, the run pipeline (jobs) and the export:

- **Roles.** A project's members are ``viewer`` < ``annotator`` < ``manager`` (EcoTaxa's View,
  Annotate, Manage). The owner is a manager whether or not they have a member row. A Specimen
  ``admin`` sees and does everything in every project (as a manager).
- **Access.** :func:`project_access` gives the caller's effective role in a project, or None:
  a project the caller cannot see answers 404 (never 403), so ids cannot be probed. A caller who
  sees the project but lacks the role an action needs gets 403 (:func:`require_role`).
- **What each role may do.** viewer: read the project, its frames, objects, counts, exports.
  annotator: also review objects (set category / status) and upload frames. manager: also edit
  and delete the project, manage members, delete frames and start runs.
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
from typing import Literal, Protocol, get_args

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
    ``(min_row, min_col, max_row, max_col)``, max exclusive; ``crop_key`` / ``mask_key`` are the
    blob keys of the crop and mask PNGs (None when not written). ``status`` is ``predicted``
    for a machine's answer.
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
    status: ObjectStatus = "predicted"
