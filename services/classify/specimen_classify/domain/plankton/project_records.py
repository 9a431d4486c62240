"""The use-cases of plankton projects: projects, members, frames, objects and their review.

The rules are those of :mod:`specimen_classify.domain.plankton.projects` (roles, 404 outside)
and :mod:`specimen_classify.domain.plankton.frame_import` (bulk uploads), applied here to
whatever calls them (the API; the worker uses the repository's ``replace_frame_objects``):

- Reading a project, its members, frames, objects and counts needs the viewer role; reviewing
  objects the annotator role; editing or deleting the project, its members and its frames,
  and uploading frames, the manager role. An id outside the caller's projects is a 404.
- **Frames are stored as sent** (bytes, media type from the content), each checked to be a
  readable image within the pixel limit before anything is written. One upload is one
  transaction: the frames it reports imported are all stored, or (on a failure) none is and
  their blobs are removed. Deleting a frame deletes its objects; deleting a project deletes
  its frames, objects and members; their blobs go once the deletion has committed.
- **Review.** A bulk annotation names object ids of one project and a category and/or a
  status; setting a category without a status validates it (EcoTaxa: a person's category is
  a validated one). Every changed object gets a history row (who, when, what); ids outside
  the project are a 422 naming them and nothing is changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import numpy.typing as npt

from specimen_classify.domain.errors import (
    FrameNotFound,
    InvalidProjectData,
    MemberNotFound,
    NoFramesImported,
    ObjectImageMissing,
    ObjectNotFound,
    ProjectNotFound,
    UnknownObjects,
)
from specimen_classify.domain.plankton.frame_import import (
    ImportLimits,
    Rejected,
    Upload,
    metadata_of,
    read_metadata_table,
)
from specimen_classify.domain.plankton.projects import (
    Annotation,
    CategoryCount,
    Frame,
    FrameDraft,
    FrameMetadata,
    ObjectFilters,
    ObjectStatus,
    PlanktonObject,
    Project,
    ProjectCaller,
    ProjectDraft,
    ProjectMember,
    ProjectRole,
    Sort,
    project_access,
    require_role,
)
from specimen_classify.domain.plankton.tiles import render_tile, tile_window
from specimen_imaging.codecs import decode_image, encode_image
from specimen_kit.errors import InvalidParameter, Problem
from specimen_kit.records import BlobStore, Content, Page
from specimen_kit.roles import Role

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DEFAULT_LIMITS = ImportLimits()
UNSET: Any = object()


@dataclass(frozen=True)
class ImageFacts:
    media_type: str
    width: int
    height: int


FramePixels = Callable[[str, Callable[[], bytes]], npt.NDArray[Any]]
"""Decodes a frame's blob (key, reader) into pixels, perhaps from a cache."""
FrameInspector = Callable[[bytes], ImageFacts]
"""Checks frame bytes (a readable image within the pixel limit) without decoding the pixels;
raises a kit ``Problem`` (4xx) otherwise (:func:`specimen_classify.adapters.frame_images.inspect_frame`)."""


class ProjectRepository(Protocol):
    """Projects, members, frames and objects; it flushes, never commits."""

    def add_project(self, draft: ProjectDraft) -> Project: ...
    def get_project(self, project_id: int) -> Project | None: ...
    def save_project(self, project: Project) -> None: ...
    def lock_project(self, project_id: int) -> bool: ...
    def project_exists(self, project_id: int) -> bool: ...
    def delete_project(self, project_id: int) -> list[str]: ...
    def page_projects(self, member_id: int | None, q: str | None, sort: Sort, limit: int,
                      offset: int) -> tuple[list[tuple[Project, ProjectRole | None]], int]: ...
    def members(self, project_id: int) -> list[ProjectMember]: ...
    def put_member(self, member: ProjectMember) -> bool: ...
    def delete_member(self, project_id: int, user_id: int) -> bool: ...
    def frame_names(self, project_id: int, names: Sequence[str]) -> set[str]: ...
    def add_frame(self, draft: FrameDraft) -> Frame: ...
    def get_frame(self, frame_id: int) -> Frame | None: ...
    def page_frames(self, project_id: int, sample_id: str | None, sort: Sort, limit: int,
                    offset: int) -> tuple[list[Frame], int]: ...
    def delete_frame(self, frame_id: int) -> list[str]: ...
    def get_object(self, object_id: int) -> PlanktonObject | None: ...
    def object_mask_png(self, object_id: int) -> bytes | None: ...
    def page_objects(self, project_id: int, filters: ObjectFilters, sort: Sort, limit: int,
                     offset: int) -> tuple[list[PlanktonObject], int]: ...
    def history(self, object_id: int) -> list[Annotation]: ...
    def existing_object_ids(self, project_id: int, ids: Sequence[int]) -> set[int]: ...
    def annotate(self, project_id: int, ids: Sequence[int], category: str | None,
                 status: ObjectStatus, user_id: int, user_name: str | None,
                 at: datetime) -> int: ...
    def counts(self, project_id: int) -> list[CategoryCount]: ...


@dataclass(frozen=True)
class ProjectFields:
    name: str
    description: str | None = None
    instrument: str | None = None
    pixel_size_um: float | None = None
    settings: dict[str, Any] | None = None


@dataclass(frozen=True)
class ProjectChanges:
    """A partial update: ``UNSET`` keeps a field."""

    name: Any = UNSET
    description: Any = UNSET
    instrument: Any = UNSET
    pixel_size_um: Any = UNSET
    settings: Any = UNSET


@dataclass(frozen=True)
class ProjectView:
    """A project and the caller's role in it."""

    project: Project
    role: ProjectRole


@dataclass(frozen=True)
class MemberView:
    user_id: int
    role: ProjectRole
    added_at: datetime
    owner: bool


@dataclass(frozen=True)
class ImportReport:
    imported: list[Frame]
    rejected: list[Rejected]
    unmatched: list[str]
    """File names the metadata table has rows for, but that are not in the upload."""


@dataclass(frozen=True)
class ObjectDetail:
    object: PlanktonObject
    frame: Frame
    history: list[Annotation]


@dataclass(frozen=True)
class Review:
    ids: list[int]
    category: str | None
    status: ObjectStatus | None
    user_name: str | None = None


class ProjectRecords:
    """The projects' use-cases over a repository and the request's blob store."""

    def __init__(self, repository: ProjectRepository, blobs: BlobStore, clock: Clock,
                 inspect: FrameInspector, limits: ImportLimits = DEFAULT_LIMITS,
                 max_review_ids: int = 1000,
                 pixels_of: FramePixels | None = None, max_pixels: int = 40_000_000) -> None:
        self._repo = repository
        self._blobs = blobs
        self._clock = clock
        self._inspect = inspect
        self._limits = limits
        self._max_review_ids = max_review_ids
        self._pixels_of = pixels_of
        self._max_pixels = max_pixels

    # --- access -----------------------------------------------------------------------------

    def _view(self, caller: ProjectCaller, project_id: int,
              needed: ProjectRole = ProjectRole.VIEWER) -> ProjectView:
        project = self._repo.get_project(project_id)
        role = None if project is None else project_access(
            caller, project, self._repo.members(project_id))
        if project is None or role is None:
            raise ProjectNotFound(project_id)
        require_role(role, needed)
        return ProjectView(project, role)

    def _lock(self, project_id: int) -> None:
        if not self._repo.lock_project(project_id):
            raise ProjectNotFound(project_id)

    def _frame(self, caller: ProjectCaller, frame_id: int,
               needed: ProjectRole = ProjectRole.VIEWER) -> Frame:
        frame = self._repo.get_frame(frame_id)
        if frame is None:
            raise FrameNotFound(frame_id)
        try:
            self._view(caller, frame.project_id, needed)
        except ProjectNotFound:
            raise FrameNotFound(frame_id) from None
        return frame

    def visible_object(self, caller: ProjectCaller, object_id: int) -> PlanktonObject:
        """The object if ``caller`` may see its project; else its 404."""
        return self._object(caller, object_id)

    def _object(self, caller: ProjectCaller, object_id: int) -> PlanktonObject:
        found = self._repo.get_object(object_id)
        if found is None:
            raise ObjectNotFound(object_id)
        try:
            self._view(caller, found.project_id)
        except ProjectNotFound:
            raise ObjectNotFound(object_id) from None
        return found

    # --- projects ---------------------------------------------------------------------------

    def require(self, caller: ProjectCaller, project_id: int, needed: ProjectRole) -> ProjectView:
        """The project and the caller's role; 404 outside, 403 below ``needed``."""
        return self._view(caller, project_id, needed)

    def create(self, caller: ProjectCaller, fields: ProjectFields) -> ProjectView:
        now = self._clock()
        project = self._repo.add_project(ProjectDraft(
            name=_name(fields.name), description=fields.description,
            instrument=fields.instrument, pixel_size_um=fields.pixel_size_um,
            settings=fields.settings or {}, owner_id=caller.user_id, created_at=now))
        logger.info("project created", extra={"project": project.id, "by": caller.user_id})
        return ProjectView(project, ProjectRole.MANAGER)

    def list_projects(self, caller: ProjectCaller, q: str | None, sort: Sort, limit: int,
                      offset: int) -> Page[ProjectView]:
        admin = caller.role is Role.ADMIN
        rows, total = self._repo.page_projects(None if admin else caller.user_id, q, sort,
                                               limit, offset)
        views = [ProjectView(project, project_access(caller, project, {caller.user_id: role}
                                                     if role else {}) or ProjectRole.VIEWER)
                 for project, role in rows]
        return Page(views, total, limit, offset)

    def get(self, caller: ProjectCaller, project_id: int) -> ProjectView:
        return self._view(caller, project_id)

    def update(self, caller: ProjectCaller, project_id: int,
               changes: ProjectChanges) -> ProjectView:
        view = self._view(caller, project_id, ProjectRole.MANAGER)
        given = {key: value for key, value in changes.__dict__.items() if value is not UNSET}
        if "name" in given:
            given["name"] = _name(given["name"])
        project = replace(view.project, **given, updated_at=self._clock())
        self._repo.save_project(project)
        return ProjectView(project, view.role)

    def delete(self, caller: ProjectCaller, project_id: int) -> None:
        self._view(caller, project_id, ProjectRole.MANAGER)
        for key in self._repo.delete_project(project_id):
            self._blobs.remove(key)
        logger.info("project deleted", extra={"project": project_id, "by": caller.user_id})

    # --- members ----------------------------------------------------------------------------

    def members(self, caller: ProjectCaller, project_id: int) -> list[MemberView]:
        project = self._view(caller, project_id).project
        owner = MemberView(project.owner_id, ProjectRole.MANAGER, project.created_at, True)
        others = [MemberView(m.user_id, m.role, m.added_at, False)
                  for m in self._repo.members(project_id) if m.user_id != project.owner_id]
        return [owner, *sorted(others, key=lambda m: m.user_id)]

    def member(self, caller: ProjectCaller, project_id: int, user_id: int) -> MemberView:
        for member in self.members(caller, project_id):
            if member.user_id == user_id:
                return member
        raise MemberNotFound(project_id, user_id)

    def put_member(self, caller: ProjectCaller, project_id: int, user_id: int,
                   role: ProjectRole) -> tuple[MemberView, bool]:
        project = self._view(caller, project_id, ProjectRole.MANAGER).project
        if user_id == project.owner_id:
            raise InvalidProjectData("user_id", f"user {user_id} owns the project and is always "
                                                "its manager")
        self._lock(project_id)
        now = self._clock()
        created = self._repo.put_member(ProjectMember(project_id, user_id, role, now))
        stored = next(m for m in self._repo.members(project_id) if m.user_id == user_id)
        return MemberView(user_id, stored.role, stored.added_at, False), created

    def remove_member(self, caller: ProjectCaller, project_id: int, user_id: int) -> None:
        project = self._view(caller, project_id, ProjectRole.MANAGER).project
        if user_id == project.owner_id:
            raise InvalidProjectData("user_id", f"user {user_id} owns the project; the owner "
                                                "cannot be removed")
        if not self._repo.delete_member(project_id, user_id):
            raise MemberNotFound(project_id, user_id)

    # --- frames -----------------------------------------------------------------------------

    def upload_frames(self, caller: ProjectCaller, project_id: int, upload: Upload,
                      form_metadata: dict[str, str | None]) -> ImportReport:
        """Store every acceptable candidate of ``upload``; report the others."""
        self._view(caller, project_id, ProjectRole.MANAGER)
        base = metadata_of(form_metadata)
        # One upload of a project at a time: two uploads of the same name never race past the
        # duplicate check, and the project cannot be deleted under the upload.
        self._lock(project_id)
        rejected = list(upload.rejected)
        rows: dict[str, dict[str, str | None]] = {}
        for name, data in upload.tables:
            table = read_metadata_table(name, data)
            rejected.extend(table.problems)
            for file_name, values in table.rows.items():
                rows.setdefault(file_name, values)
        if len(upload.candidates) > self._limits.max_files:
            raise InvalidParameter(f"the upload holds {len(upload.candidates)} frames, more than "
                                   f"the limit of {self._limits.max_files}; split it")
        existing = self._repo.frame_names(project_id, [c.file_name for c in upload.candidates])
        seen: set[str] = set()
        imported: list[Frame] = []
        now = self._clock()
        for candidate in upload.candidates:
            name = candidate.file_name
            if name in existing:
                rejected.append(Rejected(name, candidate.source, "duplicate: the project already "
                                                                 "has a frame of this name"))
                continue
            if name in seen:
                rejected.append(Rejected(name, candidate.source, "duplicate: the upload holds "
                                                                 "another file of this name"))
                continue
            seen.add(name)
            try:
                metadata = metadata_of(rows[name], base) if name in rows else base
                data = candidate.read(self._limits.max_member_bytes)
                facts = self._inspect(data)
            except Problem as problem:
                rejected.append(Rejected(name, candidate.source, problem.detail))
                continue
            except (ValueError, OSError, EOFError) as error:
                rejected.append(Rejected(name, candidate.source, f"unreadable: {error}"))
                continue
            key = self._blobs.put(data)
            imported.append(self._repo.add_frame(FrameDraft(
                project_id=project_id, file_name=name, image_key=key,
                media_type=facts.media_type, bytes=len(data), width=facts.width,
                height=facts.height, metadata=metadata, created_by=caller.user_id,
                created_at=now)))
        names = {c.file_name for c in upload.candidates}
        unmatched = sorted(name for name in rows if name not in names)
        if not imported:
            raise NoFramesImported(
                "no file of the upload became a frame; `rejected` says why for each",
                rejected=[r.__dict__ for r in rejected], unmatched=unmatched)
        logger.info("frames uploaded", extra={"project": project_id, "imported": len(imported),
                                              "rejected": len(rejected), "by": caller.user_id})
        return ImportReport(imported, rejected, unmatched)

    def list_frames(self, caller: ProjectCaller, project_id: int, sample_id: str | None,
                    sort: Sort, limit: int, offset: int) -> Page[Frame]:
        self._view(caller, project_id)
        frames, total = self._repo.page_frames(project_id, sample_id, sort, limit, offset)
        return Page(frames, total, limit, offset)

    def frame(self, caller: ProjectCaller, frame_id: int) -> Frame:
        return self._frame(caller, frame_id)

    def frame_content(self, caller: ProjectCaller, frame_id: int) -> Content:
        frame = self._frame(caller, frame_id)
        return Content(self._blobs.get(frame.image_key), frame.media_type, frame.file_name)

    def tile(self, caller: ProjectCaller, frame_id: int, z: int, x: int, y: int) -> bytes:
        """Tile ``(z, x, y)`` of the frame's pyramid as PNG (:mod:`.tiles`)."""
        frame = self._frame(caller, frame_id)
        tile_window(frame.width, frame.height, z, x, y)  # a 404 before anything is decoded
        assert self._pixels_of is not None, "ProjectRecords needs pixels_of for tiles"
        pixels = self._pixels_of(frame.image_key, lambda: self._blobs.get(frame.image_key))
        return encode_image(render_tile(pixels, z, x, y), "png")

    def converted(self, sent: Content, fmt: str, quality: int | None = None) -> Content:
        """A frame's content (from :meth:`frame_content`) decoded and encoded as ``fmt``."""
        stem = sent.filename.rsplit(".", 1)[0]
        data = encode_image(decode_image(sent.data, max_pixels=self._max_pixels).pixels, fmt,
                            quality)
        return Content(data, f"image/{fmt}", f"{stem}.{fmt}")

    def delete_frame(self, caller: ProjectCaller, frame_id: int) -> None:
        self._frame(caller, frame_id, ProjectRole.MANAGER)
        for key in self._repo.delete_frame(frame_id):
            self._blobs.remove(key)

    # --- objects ----------------------------------------------------------------------------

    def list_objects(self, caller: ProjectCaller, project_id: int, filters: ObjectFilters,
                     sort: Sort, limit: int, offset: int) -> Page[PlanktonObject]:
        self._view(caller, project_id)
        objects, total = self._repo.page_objects(project_id, filters, sort, limit, offset)
        return Page(objects, total, limit, offset)

    def object(self, caller: ProjectCaller, object_id: int) -> ObjectDetail:
        found = self._object(caller, object_id)
        frame = self._repo.get_frame(found.frame_id)
        if frame is None:  # deleted between the two reads
            raise ObjectNotFound(object_id)
        return ObjectDetail(found, frame, self._repo.history(object_id))

    def object_image(self, caller: ProjectCaller, object_id: int, which: str) -> Content:
        found = self._object(caller, object_id)
        # A run's mask is in the object's row; one stored before migration 0008 is a blob.
        data = self._repo.object_mask_png(object_id) if which == "mask" else None
        key = found.mask_key if which == "mask" else found.crop_key
        if data is None and key is not None:
            data = self._blobs.get(key)
        if data is None:
            raise ObjectImageMissing(f"object {object_id} has no stored {which}; re-run its "
                                     "frame to make one", object_id=object_id)
        return Content(data, "image/png",
                       f"{found.frame_file_name.rsplit('.', 1)[0]}_{found.rank}_{which}.png")

    def annotate(self, caller: ProjectCaller, project_id: int, review: Review) -> int:
        self._view(caller, project_id, ProjectRole.ANNOTATOR)
        ids = list(dict.fromkeys(review.ids))
        if not ids:
            raise InvalidProjectData("ids", "name at least one object id")
        if len(ids) > self._max_review_ids:
            raise InvalidProjectData("ids", f"{len(ids)} ids, more than the limit of "
                                            f"{self._max_review_ids} per request; split them")
        if review.category is None and review.status is None:
            raise InvalidProjectData("category", "give a category, a status, or both")
        found = self._repo.existing_object_ids(project_id, ids)
        unknown = [i for i in ids if i not in found]
        if unknown:
            # A delete of the project that committed after the access check above took its
            # objects with it: a 404, not the caller's ids "unknown" (422). Not locked instead:
            # the lock is held through a whole upload, and a review need not wait for one.
            if not self._repo.project_exists(project_id):
                raise ProjectNotFound(project_id)
            raise UnknownObjects(unknown, project_id)
        status: ObjectStatus = review.status or "validated"
        changed = self._repo.annotate(project_id, ids, review.category, status, caller.user_id,
                                      review.user_name, self._clock())
        logger.info("objects annotated", extra={"project": project_id, "objects": changed,
                                                "status": status, "by": caller.user_id})
        return changed

    def counts(self, caller: ProjectCaller, project_id: int) -> list[CategoryCount]:
        self._view(caller, project_id)
        return self._repo.counts(project_id)


def _name(value: str) -> str:
    name = (value or "").strip()
    if not name:
        raise InvalidProjectData("name", "the project's name cannot be empty")
    return name


__all__ = ["FrameMetadata", "ImportReport", "ProjectRecords"]
