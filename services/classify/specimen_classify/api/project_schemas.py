"""Request and response bodies of the plankton projects' routes (projects, members, frames,
objects and their review), apart from the tables and the domain entities."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from specimen_classify.api.classification_schemas import Box, ModelRef
from specimen_classify.api.search_schemas import DescriptorSearchParams
from specimen_classify.domain.plankton.object_search import ObjectHit, ObjectSearchAnswer
from specimen_classify.domain.plankton.project_records import (
    UNSET,
    ImportReport,
    MemberView,
    ObjectDetail,
    ProjectChanges,
    ProjectView,
)
from specimen_classify.domain.plankton.projects import (
    Annotation,
    CategoryCount,
    Frame,
    ObjectFilters,
    ObjectStatus,
    PlanktonObject,
    Sort,
)
from specimen_classify.domain.plankton.segmentation import PlanktonSegmentation
from specimen_classify.domain.plankton.tiles import TILE_SIZE, max_zoom
from specimen_imaging.options import Params
from specimen_kit.identifiers import MAX_RECORD_ID
from specimen_kit.paging import DEFAULT_LIMIT, LimitField, OffsetField
from specimen_kit.records import Page
from specimen_kit.timestamps import Timestamp

NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000
MAX_CATEGORY_CHARS = 100
API = "/api/v1"
RoleField = Literal["viewer", "annotator", "manager"]


class ProjectSettings(PlanktonSegmentation):
    """A project's default pipeline settings: the ``/classify/plankton`` segmentation fields
    (the same model, names, bounds and messages) plus how each object's crop is drawn and
    which forest version classifies. Validated when stored; a run starts from them."""

    padding: int = Field(
        8, ge=0, le=256,
        description="Pixels of the frame kept around each object's bounding box in its crop.")
    fade_background: float = Field(
        0.0, ge=0.0, le=1.0,
        description="How far the crop's pixels outside the object are faded to white: 0 keeps "
                    "them, 1 leaves the object alone on white.")
    contours: bool = Field(False, description="Draw the object's outline on its crop.")
    model_version: int | None = Field(
        None, ge=1, description="Which plankton forest version classifies; null: the active one.")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectCreate(_Request):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS, pattern=NO_CONTROLS,
                      examples=["Point B 2026 cruise"])
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    instrument: str | None = Field(default=None, max_length=64, pattern=NO_CONTROLS,
                                   examples=["ZooScan"])
    pixel_size_um: float | None = Field(default=None, gt=0, le=1_000_000,
                                        description="Micrometres per pixel of the frames.",
                                        examples=[10.6])
    settings: dict[str, Any] | None = Field(
        default=None, description="Default pipeline settings (see `ProjectSettings`): the "
                                  "/classify/plankton segmentation fields plus padding, "
                                  "fade_background, contours, model_version. Left out: the "
                                  "defaults. Stored with every default filled in.")


class ProjectUpdate(_Request):
    """A partial update: a field left out keeps its value; ``null`` clears description,
    instrument and pixel_size_um; ``settings`` replaces the settings whole (validated)."""

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_CHARS,
                             pattern=NO_CONTROLS)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    instrument: str | None = Field(default=None, max_length=64, pattern=NO_CONTROLS)
    pixel_size_um: float | None = Field(default=None, gt=0, le=1_000_000)
    settings: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _required_fields_are_not_null(self) -> ProjectUpdate:
        for name in ("name", "settings"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; leave it out to keep it")
        return self

    def changes(self, settings: dict[str, Any] | None) -> ProjectChanges:
        given = self.model_fields_set
        return ProjectChanges(**{name: (settings if name == "settings" else getattr(self, name))
                                 if name in given else UNSET
                                 for name in ("name", "description", "instrument",
                                              "pixel_size_um", "settings")})


def _sort(value: str) -> Sort:
    return Sort(field=value.removeprefix("-"), descending=value.startswith("-"))


class ProjectListQuery(_Request):
    q: str | None = Field(default=None, max_length=MAX_NAME_CHARS, pattern=NO_CONTROLS,
                          description="Only projects whose name or description contains this "
                                      "(case-insensitive).")
    sort: Literal["id", "-id", "name", "-name", "created_at", "-created_at", "updated_at",
                  "-updated_at"] = Field(default="-created_at",
                                         description="`field` ascending or `-field` descending.")
    limit: LimitField = DEFAULT_LIMIT
    offset: OffsetField = 0

    def order(self) -> Sort:
        return _sort(self.sort)


class ProjectPublic(BaseModel):
    id: int
    name: str
    description: str | None
    instrument: str | None
    pixel_size_um: float | None
    settings: dict[str, Any] = Field(description="The default pipeline settings (every field).")
    owner_id: int = Field(description="The users service's id of the owner (always a manager).")
    role: RoleField = Field(description="Your role in the project (an admin is a manager).")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, view: ProjectView) -> ProjectPublic:
        p = view.project
        return cls(id=p.id, name=p.name, description=p.description, instrument=p.instrument,
                   pixel_size_um=p.pixel_size_um, settings=p.settings, owner_id=p.owner_id,
                   role=view.role.value, created_at=p.created_at, updated_at=p.updated_at)


class ProjectPage(BaseModel):
    items: list[ProjectPublic]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: Page[ProjectView]) -> ProjectPage:
        return cls(items=[ProjectPublic.of(v) for v in page.items], total=page.total,
                   limit=page.limit, offset=page.offset)


class MemberPublic(BaseModel):
    user_id: int
    role: RoleField
    owner: bool = Field(description="True for the project's owner, a manager without a row.")
    added_at: Timestamp

    @classmethod
    def of(cls, member: MemberView) -> MemberPublic:
        return cls(user_id=member.user_id, role=member.role.value, owner=member.owner,
                   added_at=member.added_at)


class MemberPage(BaseModel):
    items: list[MemberPublic]
    total: int
    limit: int
    offset: int


class MemberPut(_Request):
    role: RoleField = Field(description="viewer: read; annotator: also review objects; "
                                        "manager: also edit, delete, manage members, upload "
                                        "frames and start runs.")


class PageQuery(_Request):
    limit: LimitField = DEFAULT_LIMIT
    offset: OffsetField = 0


class TilesPublic(BaseModel):
    size: int = Field(description="Tiles are size x size PNG pixels.", examples=[TILE_SIZE])
    max_zoom: int = Field(description="The full-resolution level; 0 is the whole frame in one tile.")
    url: str = Field(examples=["/api/v1/frames/7/tiles/{z}/{x}/{y}.png"])


class FramePublic(BaseModel):
    id: int
    project_id: int
    file_name: str = Field(description="EcoTaxa's img_file_name: unique within the project.")
    media_type: str
    bytes: int
    width: int
    height: int
    sample_id: str | None
    acq_id: str | None
    latitude: float | None
    longitude: float | None
    depth_min: float | None
    depth_max: float | None
    taken_at: Timestamp | None
    created_by: int
    created_at: Timestamp
    image_url: str = Field(description="The frame as it was sent (or converted, `output`).")
    tiles: TilesPublic

    @classmethod
    def of(cls, frame: Frame) -> FramePublic:
        meta = frame.metadata
        return cls(id=frame.id, project_id=frame.project_id, file_name=frame.file_name,
                   media_type=frame.media_type, bytes=frame.bytes, width=frame.width,
                   height=frame.height, sample_id=meta.sample_id, acq_id=meta.acq_id,
                   latitude=meta.latitude, longitude=meta.longitude, depth_min=meta.depth_min,
                   depth_max=meta.depth_max, taken_at=meta.taken_at, created_by=frame.created_by,
                   created_at=frame.created_at, image_url=f"{API}/frames/{frame.id}/image",
                   tiles=TilesPublic(size=TILE_SIZE, max_zoom=max_zoom(frame.width, frame.height),
                                     url=f"{API}/frames/{frame.id}/tiles/{{z}}/{{x}}/{{y}}.png"))


class FramePage(BaseModel):
    items: list[FramePublic]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: Page[Frame]) -> FramePage:
        return cls(items=[FramePublic.of(f) for f in page.items], total=page.total,
                   limit=page.limit, offset=page.offset)


class FrameListQuery(PageQuery):
    sample_id: str | None = Field(default=None, max_length=100, pattern=NO_CONTROLS,
                                  description="Only the frames of this sample.")
    sort: Literal["id", "-id", "file_name", "-file_name", "created_at", "-created_at",
                  "taken_at", "-taken_at", "sample_id", "-sample_id"] = "file_name"

    def order(self) -> Sort:
        return _sort(self.sort)


class FrameMetadataFields(_Request):
    """Metadata form fields of an upload, applied to every frame of the request (a metadata
    table's row for a file wins over them)."""

    sample_id: str | None = None
    acq_id: str | None = None
    lat: str | None = Field(default=None, description="Latitude, decimal degrees.")
    lon: str | None = Field(default=None, description="Longitude, decimal degrees.")
    date: str | None = Field(default=None, description="YYYY-MM-DD or YYYYMMDD.")
    time: str | None = Field(default=None, description="HH:MM[:SS] or HHMMSS (UTC).")
    datetime: str | None = Field(default=None, description="ISO 8601, instead of date and time.")
    depth_min: str | None = None
    depth_max: str | None = None

    def values(self) -> dict[str, str | None]:
        names = {"lat": "latitude", "lon": "longitude"}
        return {names.get(key, key): value for key, value in self.model_dump().items()
                if key in self.model_fields_set}


class RejectedPublic(BaseModel):
    file_name: str
    source: str | None = Field(description="The archive or metadata table it came from; null "
                                           "for a plain image part.")
    reason: str


class FrameUploadReport(BaseModel):
    imported_count: int
    rejected_count: int
    imported: list[FramePublic]
    rejected: list[RejectedPublic] = Field(description="Every file not imported, and why.")
    unmatched_metadata: list[str] = Field(
        description="File names the metadata table has rows for that are not in the upload.")

    @classmethod
    def of(cls, report: ImportReport) -> FrameUploadReport:
        return cls(imported_count=len(report.imported), rejected_count=len(report.rejected),
                   imported=[FramePublic.of(f) for f in report.imported],
                   rejected=[RejectedPublic(file_name=r.file_name, source=r.source,
                                            reason=r.reason) for r in report.rejected],
                   unmatched_metadata=report.unmatched)


class AnnotationPublic(BaseModel):
    category: str
    status: ObjectStatus
    user_id: int
    user_name: str | None
    at: Timestamp

    @classmethod
    def of(cls, entry: Annotation) -> AnnotationPublic:
        return cls(category=entry.category, status=entry.status, user_id=entry.user_id,
                   user_name=entry.user_name, at=entry.at)


class ObjectPublic(BaseModel):
    id: int
    project_id: int
    frame_id: int
    file_name: str = Field(description="The frame's file name (EcoTaxa's img_file_name).")
    sample_id: str | None
    rank: int = Field(description="1, 2, … within the frame (EcoTaxa's img_rank).")
    job_id: int | None = Field(description="The run that made the object.")
    bbox: Box
    centroid: tuple[float, float] = Field(description="(row, col)")
    category: str
    probability: float
    scores: dict[str, float]
    model: ModelRef
    status: ObjectStatus = Field(description="predicted (the forest's), validated or dubious "
                                             "(a person's), as EcoTaxa.")
    annotated_by: int | None
    annotated_by_name: str | None
    annotated_at: Timestamp | None
    created_at: Timestamp
    feature_set_version: str
    features: dict[str, float]
    crop_url: str
    mask_url: str

    @classmethod
    def of(cls, obj: PlanktonObject) -> ObjectPublic:
        return cls(id=obj.id, project_id=obj.project_id, frame_id=obj.frame_id,
                   file_name=obj.frame_file_name, sample_id=obj.sample_id, rank=obj.rank,
                   job_id=obj.job_id, bbox=Box.of(obj.bbox), centroid=obj.centroid,
                   category=obj.category, probability=obj.probability, scores=obj.scores,
                   model=ModelRef(name=obj.model_name, version=obj.model_version),
                   status=obj.status, annotated_by=obj.annotated_by,
                   annotated_by_name=obj.annotated_by_name, annotated_at=obj.annotated_at,
                   created_at=obj.created_at, feature_set_version=obj.feature_set_version,
                   features=obj.features, crop_url=f"{API}/objects/{obj.id}/crop.png",
                   mask_url=f"{API}/objects/{obj.id}/mask.png")


class ObjectDetailPublic(ObjectPublic):
    frame: FramePublic
    history: list[AnnotationPublic] = Field(description="Every review, newest first.")

    @classmethod
    def of_detail(cls, detail: ObjectDetail) -> ObjectDetailPublic:
        return cls(**ObjectPublic.of(detail.object).model_dump(),
                   frame=FramePublic.of(detail.frame),
                   history=[AnnotationPublic.of(a) for a in detail.history])


class ObjectPage(BaseModel):
    items: list[ObjectPublic]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: Page[PlanktonObject]) -> ObjectPage:
        return cls(items=[ObjectPublic.of(o) for o in page.items], total=page.total,
                   limit=page.limit, offset=page.offset)


class _ObjectFilterFields(BaseModel):
    """The review list's filters, the same on the object list and the similar-object search."""

    category: str | None = Field(default=None, max_length=MAX_CATEGORY_CHARS, pattern=NO_CONTROLS)
    status: ObjectStatus | None = None
    probability_min: float | None = Field(default=None, ge=0, le=1)
    probability_max: float | None = Field(default=None, ge=0, le=1)
    frame_id: int | None = Field(default=None, ge=1, le=MAX_RECORD_ID)
    sample_id: str | None = Field(default=None, max_length=100, pattern=NO_CONTROLS)

    @model_validator(mode="after")
    def _range(self) -> _ObjectFilterFields:
        if (self.probability_min is not None and self.probability_max is not None
                and self.probability_min > self.probability_max):
            raise ValueError("probability_min is above probability_max")
        return self

    def filters(self) -> ObjectFilters:
        return ObjectFilters(category=self.category, status=self.status,
                             probability_min=self.probability_min,
                             probability_max=self.probability_max, frame_id=self.frame_id,
                             sample_id=self.sample_id)


class ObjectListQuery(_ObjectFilterFields, PageQuery):
    sort: Literal["probability", "-probability", "id", "-id", "category", "-category",
                  "annotated_at", "-annotated_at", "created_at", "-created_at"] = Field(
        default="probability",
        description="Default `probability`: the least sure first, to review the doubtful first.")


    def order(self) -> Sort:
        return _sort(self.sort)


class AnnotationRequest(_Request):
    """Set the category and/or the status of many objects of the project at once."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"ids": [12, 13], "category": "copepod", "status": "validated"},
        {"ids": [14], "status": "dubious"}]})

    ids: list[int] = Field(min_length=1, description="Object ids of this project.")
    category: str | None = Field(default=None, min_length=1, max_length=MAX_CATEGORY_CHARS,
                                 pattern=NO_CONTROLS)
    status: ObjectStatus | None = Field(
        default=None, description="Left out with a category: validated (a person's category).")
    annotator_name: str | None = Field(
        default=None, max_length=MAX_NAME_CHARS, pattern=NO_CONTROLS,
        deprecated=True,
        description="Ignored: the annotator's name (EcoTaxa's object_annotation_person_name) "
                    "is the users service's full name of the token's user, `user <id>` when "
                    "that service cannot answer; a name sent here could be anyone's.")

    @field_validator("ids")
    @classmethod
    def _ids_in_range(cls, ids: list[int]) -> list[int]:
        bad = [i for i in ids if not 1 <= i <= MAX_RECORD_ID]
        if bad:
            raise ValueError(f"ids must be 1 … {MAX_RECORD_ID}; got {bad[:5]}")
        return ids

    @model_validator(mode="after")
    def _something(self) -> AnnotationRequest:
        if self.category is None and self.status is None:
            raise ValueError("give a category, a status, or both")
        return self


class AnnotationResult(BaseModel):
    updated: int = Field(description="How many objects changed (each got a history row).")
    category: str | None
    status: ObjectStatus


class CountPublic(BaseModel):
    category: str
    status: ObjectStatus
    count: int


class CountsPublic(BaseModel):
    total: int
    counts: list[CountPublic] = Field(description="One row per category and status present.")
    by_status: dict[str, int]
    by_category: dict[str, int]

    @classmethod
    def of(cls, counts: list[CategoryCount]) -> CountsPublic:
        by_status = {"predicted": 0, "validated": 0, "dubious": 0}
        by_category: dict[str, int] = {}
        for row in counts:
            by_status[row.status] += row.count
            by_category[row.category] = by_category.get(row.category, 0) + row.count
        return cls(total=sum(by_status.values()),
                   counts=[CountPublic(category=r.category, status=r.status, count=r.count)
                          for r in counts], by_status=by_status, by_category=by_category)


# --- similar-object search (issue 14) --------------------------------------------------------


class ObjectSearchParams(_ObjectFilterFields, Params):
    """The search's fields besides the file ``image`` (an uploaded crop): ``object_id`` (an object
    of the project) or the crop, the review list's filters, and ``limit``."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [
        {"object_id": 12, "limit": 10}, {"object_id": 12, "status": "predicted", "limit": 20}]})

    object_id: int | None = Field(None, ge=1, le=MAX_RECORD_ID,
                                  description="An object of this project to search by (left out "
                                              "of the answer).")
    limit: int = Field(10, ge=1, description="How many objects to answer, best first (at most "
                                             "SPECIMEN_CLASSIFY_OBJECT_SEARCH_MAX_LIMIT).")


class SimilarObject(BaseModel):
    object_id: int
    similarity: float = Field(description="Cosine of the descriptors, -1 to 1; 1 is identical.")
    category: str
    probability: float
    status: ObjectStatus
    frame_id: int
    file_name: str = Field(description="The frame's file name.")
    rank: int
    url: str
    crop_url: str

    @classmethod
    def of(cls, hit: ObjectHit) -> SimilarObject:
        obj = hit.object
        return cls(object_id=obj.id, similarity=hit.similarity, category=obj.category,
                   probability=obj.probability, status=obj.status, frame_id=obj.frame_id,
                   file_name=obj.frame_file_name, rank=obj.rank, url=f"{API}/objects/{obj.id}",
                   crop_url=f"{API}/objects/{obj.id}/crop.png")


class ObjectSearchResults(BaseModel):
    items: list[SimilarObject]
    candidates: int = Field(description="The project's described objects that passed the "
                                        "filters (all were ranked).")
    descriptor_set_version: str = Field(description="The object descriptors compared.")

    @classmethod
    def of(cls, answer: ObjectSearchAnswer) -> ObjectSearchResults:
        return cls(items=[SimilarObject.of(hit) for hit in answer.hits],
                   candidates=answer.candidates,
                   descriptor_set_version=answer.descriptor_set_version)


class MemberObjectSearchParams(DescriptorSearchParams):
    """``POST /objects/search``'s fields besides the file ``image`` (an uploaded crop): exactly
    one of the crop, an ``object_id``, or a ``descriptor`` with its ``descriptor_set_version``."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [
        {"object_id": 12, "limit": 10}]})

    object_id: int | None = Field(None, ge=1, le=MAX_RECORD_ID,
                                  description="An object you can see to search by (left out of "
                                              "the answer).")


class MemberSimilarObject(SimilarObject):
    project_id: int = Field(description="The object's project (one you belong to).")
    thumbnail_url: str = Field(description="A small picture of it (its crop).")

    @classmethod
    def of(cls, hit: ObjectHit) -> MemberSimilarObject:
        base = SimilarObject.of(hit)
        return cls(**base.model_dump(), project_id=hit.object.project_id,
                   thumbnail_url=base.crop_url)


class MemberObjectSearchResults(BaseModel):
    items: list[MemberSimilarObject]
    candidates: int = Field(description="The described objects of your projects that were "
                                        "ranked.")
    descriptor_set_version: str = Field(description="The descriptor set compared: the image "
                                                    "part of the object descriptors, the set "
                                                    "segment's library uses.")

    @classmethod
    def of(cls, answer: ObjectSearchAnswer) -> MemberObjectSearchResults:
        return cls(items=[MemberSimilarObject.of(hit) for hit in answer.hits],
                   candidates=answer.candidates,
                   descriptor_set_version=answer.descriptor_set_version)
