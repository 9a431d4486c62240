"""Request and response bodies of ``/scans``, apart from the table and the domain entities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from specimen_classify.api.classification_schemas import Box, ModelRef
from specimen_classify.api.search_schemas import DescriptorSearchParams
from specimen_classify.domain.scan_search import ScanHit, ScanSearchAnswer
from specimen_classify.domain.scans import (
    MAX_PATIENT_REF_CHARS,
    UNSET,
    Classification,
    PatientGender,
    Scan,
    ScanChanges,
    ScanFilters,
    ScanImage,
    ScanSort,
    ScanSortField,
)
from specimen_kit.hospitals import MAX_HOSPITAL_NAME_CHARS
from specimen_kit.identifiers import MAX_RECORD_ID
from specimen_kit.paging import DEFAULT_LIMIT, LimitField, OffsetField
from specimen_kit.records import Page
from specimen_kit.timestamps import Timestamp

MriLabelField = Literal["tumor", "healthy"]
NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
# The notes' limit is a setting the domain applies, with a message that names it; this loose cap
# only keeps absurd bodies out of validation.
_MAX_TEXT_FIELD = 100_000
_HOSPITAL_HELP = ("A hospital of `GET /api/v1/hospitals`, by id (a name gives the same id). "
                  "Defaults to yours; only an admin may name another, and an unknown one is a "
                  "422 `unknown-hospital`.")
_PATIENT_REF_HELP = ("The hospital's pseudonym of the patient (never a name or a national id): "
                     "meaningful within the hospital only; trimmed, no control characters, at "
                     "most SPECIMEN_CLASSIFY_SCAN_PATIENT_REF_MAX_CHARS characters (default 64).")
SORT_CHOICES: tuple[str, ...] = tuple(
    f"{sign}{field}" for field in get_args(ScanSortField) for sign in ("", "-"))
ScanSortParam = Literal["id", "-id", "created_at", "-created_at", "updated_at", "-updated_at",
                        "classified_at", "-classified_at", "tumor_probability",
                        "-tumor_probability", "patient_ref", "-patient_ref"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScanCreateFields(_Request):
    """The fields that come with the image (multipart form fields, or JSON members)."""

    patient_gender: PatientGender = Field(
        description="`unknown` when it is not known; the field is required so that it is never "
                    "left out by accident.")
    hospital: str | None = Field(
        default=None, max_length=MAX_HOSPITAL_NAME_CHARS, description=_HOSPITAL_HELP,
        examples=["general"])
    patient_ref: str | None = Field(default=None, max_length=MAX_PATIENT_REF_CHARS,
                                    description=_PATIENT_REF_HELP, examples=["P-0042"])
    true_label: MriLabelField | None = Field(
        default=None, description="The diagnosis when known (for evaluating the model).")
    notes: str | None = Field(default=None, max_length=_MAX_TEXT_FIELD,
                              description="Free text; the length limit is a service setting.")

    @field_validator("hospital", "patient_ref", "true_label", "notes", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        # An HTML form sends an untouched optional field as an empty string.
        return None if value == "" else value


class ScanImportFields(_Request):
    """The form fields of a scan import: defaults of every slice, which the table's cells
    override (``patient_gender`` is required per slice, from either)."""

    patient_gender: PatientGender | None = Field(
        default=None, description="Each slice's gender unless its table row gives one.")
    hospital: str | None = Field(
        default=None, max_length=MAX_HOSPITAL_NAME_CHARS, description=_HOSPITAL_HELP)
    patient_ref: str | None = Field(default=None, max_length=MAX_PATIENT_REF_CHARS,
                                    description=_PATIENT_REF_HELP)
    true_label: MriLabelField | None = Field(default=None, description="The diagnosis when known.")
    notes: str | None = Field(default=None, max_length=_MAX_TEXT_FIELD, description="Free text.")

    @field_validator("patient_gender", "hospital", "patient_ref", "true_label", "notes", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value

    def values(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in type(self).model_fields}


class ScanUpdate(_Request):
    """A partial update (JSON merge semantics): a field left out keeps its value; ``null`` clears
    ``true_label``, ``notes`` and ``patient_ref``. Moving to another ``hospital`` is for admins."""

    patient_gender: PatientGender | None = None
    true_label: MriLabelField | None = None
    notes: str | None = Field(default=None, max_length=_MAX_TEXT_FIELD)
    patient_ref: str | None = Field(default=None, max_length=MAX_PATIENT_REF_CHARS,
                                    description=_PATIENT_REF_HELP)
    hospital: str | None = Field(default=None, max_length=MAX_HOSPITAL_NAME_CHARS,
                                 description=_HOSPITAL_HELP)

    @model_validator(mode="after")
    def _required_fields_are_not_null(self) -> ScanUpdate:
        for name in ("patient_gender", "hospital"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; leave it out to keep it")
        return self

    def changes(self) -> ScanChanges:
        given = self.model_fields_set
        return ScanChanges(
            patient_gender=self.patient_gender, hospital=self.hospital,
            true_label=self.true_label if "true_label" in given else UNSET,
            notes=self.notes if "notes" in given else UNSET,
            patient_ref=self.patient_ref if "patient_ref" in given else UNSET)


class ScanFilterQuery(_Request):
    """Filters of the listing and the export; unknown parameters are refused (a typo never
    silently returns everything)."""

    hospital: str | None = Field(
        default=None, max_length=MAX_HOSPITAL_NAME_CHARS, pattern=NO_CONTROLS,
        description="Only this hospital's scans, by id (admins see all; others only theirs).")
    patient_ref: str | None = Field(
        default=None, max_length=MAX_PATIENT_REF_CHARS, pattern=NO_CONTROLS,
        description="Only this patient's scans (exact, within the hospitals you see).")
    label: MriLabelField | None = Field(default=None, description="The model's label.")
    true_label: MriLabelField | None = None
    patient_gender: PatientGender | None = None
    model_version: int | None = Field(default=None, ge=1, le=MAX_RECORD_ID,
                                      description="Classified by this version of the MRI model.")
    created_after: datetime | None = Field(
        default=None, description="Inclusive; ISO 8601, UTC when no offset is given.")
    created_before: datetime | None = Field(default=None, description="Exclusive.")

    @field_validator("created_after", "created_before")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the time is out of range once converted to UTC") from None

    def filters(self) -> ScanFilters:
        return ScanFilters(
            hospital=self.hospital, patient_ref=self.patient_ref, label=self.label,
            true_label=self.true_label,
            patient_gender=self.patient_gender, model_version=self.model_version,
            created_after=self.created_after, created_before=self.created_before)


class ScanListQuery(ScanFilterQuery):
    limit: LimitField = DEFAULT_LIMIT
    offset: OffsetField = 0
    sort: ScanSortParam = Field(
        default="-created_at",
        description="`field` ascending or `-field` descending (ties by id the same way): "
                    + ", ".join(f"`{choice}`" for choice in SORT_CHOICES[::2]) + ".")

    def order(self) -> ScanSort:
        field: Any = self.sort.removeprefix("-")
        return ScanSort(field=field, descending=self.sort.startswith("-"))


class PageQuery(_Request):
    limit: LimitField = DEFAULT_LIMIT
    offset: OffsetField = 0


class ClassificationPublic(BaseModel):
    label: MriLabelField
    probability: float = Field(description="The model's probability of `label`.")
    tumor_probability: float = Field(description="The model's probability of *tumor*.")
    decision_threshold: float | None = Field(
        description="The tumor probability at or above which the model answers *tumor*; null "
                    "for results recorded before it was kept.")
    model: ModelRef
    crop_box: Box = Field(description="Where the brain was found in the stored image.")
    classified_at: Timestamp

    @classmethod
    def of(cls, result: Classification) -> ClassificationPublic:
        return cls(label=result.label, probability=result.probability,
                   tumor_probability=result.tumor_probability,
                   decision_threshold=result.decision_threshold, model=ModelRef.of(result.model),
                   crop_box=Box.of(result.crop_box), classified_at=result.classified_at)


class ClassificationPage(BaseModel):
    """A scan's classification history, newest first."""

    items: list[ClassificationPublic]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: Page[Classification]) -> ClassificationPage:
        return cls(items=[ClassificationPublic.of(c) for c in page.items], total=page.total,
                   limit=page.limit, offset=page.offset)


class ScanImagePublic(BaseModel):
    media_type: str = Field(examples=["image/png", "application/dicom"])
    bytes: int = Field(description="Size of the image as it was sent.")

    @classmethod
    def of(cls, image: ScanImage) -> ScanImagePublic:
        return cls(media_type=image.media_type, bytes=image.bytes)


class ScanPublic(BaseModel):
    id: int
    hospital: str = Field(description="The hospital's id (`GET /api/v1/hospitals/{id}`).",
                          examples=["general"])
    patient_ref: str | None = Field(description=_PATIENT_REF_HELP)
    patient_gender: PatientGender
    true_label: MriLabelField | None
    notes: str | None
    created_by: int = Field(description="The id of the user who filed the scan.")
    created_at: Timestamp
    updated_at: Timestamp
    classification: ClassificationPublic = Field(
        description="The latest; `GET /api/v1/scans/{id}/classifications` lists them all.")
    image: ScanImagePublic

    @classmethod
    def of(cls, scan: Scan) -> ScanPublic:
        return cls(id=scan.id, hospital=scan.hospital, patient_ref=scan.patient_ref,
                   patient_gender=scan.patient_gender,
                   true_label=scan.true_label, notes=scan.notes, created_by=scan.created_by,
                   created_at=scan.created_at, updated_at=scan.updated_at,
                   classification=ClassificationPublic.of(scan.classification),
                   image=ScanImagePublic.of(scan.image))


class ScanPage(BaseModel):
    items: list[ScanPublic]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: Page[Scan]) -> ScanPage:
        return cls(items=[ScanPublic.of(scan) for scan in page.items], total=page.total,
                   limit=page.limit, offset=page.offset)


# --- similar-scan search (issue 14) ------------------------------------------------------------

class ScanSearchParams(DescriptorSearchParams):
    """The search's fields besides the file ``image``: exactly one of an uploaded ``image``, a
    ``scan_id``, or a ``descriptor`` with its ``descriptor_set_version``."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [
        {"scan_id": 12, "limit": 10}]})

    scan_id: int | None = Field(None, ge=1, le=MAX_RECORD_ID,
                                description="A scan you can see to search by (left out of the "
                                            "answer).")
    hospital: str | None = Field(
        None, max_length=MAX_HOSPITAL_NAME_CHARS,
        description="Narrow to one hospital (an admin's filter; anyone else sees their own "
                    "hospital's scans only, and naming another answers nothing).")

    @field_validator("hospital", "descriptor_set_version", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value


class SimilarScan(BaseModel):
    scan_id: int
    similarity: float = Field(description="Cosine of the descriptors, -1 to 1; 1 is identical.")
    hospital: str
    patient_ref: str | None
    label: MriLabelField = Field(description="The latest classification's label.")
    probability: float
    true_label: MriLabelField | None
    media_type: str
    created_at: Timestamp
    url: str = Field(description="The scan record.")
    content_url: str = Field(description="Its image as it was sent.")
    thumbnail_url: str = Field(description="The slice as a PNG a browser shows (scans have no "
                                           "smaller thumbnail).")

    @classmethod
    def of(cls, hit: ScanHit) -> SimilarScan:
        scan = hit.scan
        url = f"/api/v1/scans/{scan.id}"
        return cls(scan_id=scan.id, similarity=hit.similarity, hospital=scan.hospital,
                   patient_ref=scan.patient_ref, label=scan.classification.label,
                   probability=scan.classification.probability, true_label=scan.true_label,
                   media_type=scan.image.media_type, created_at=scan.created_at, url=url,
                   content_url=f"{url}/image", thumbnail_url=f"{url}/image?output=png")


class ScanSearchResults(BaseModel):
    items: list[SimilarScan]
    candidates: int = Field(description="The described scans in your scope that were ranked.")
    descriptor_set_version: str = Field(description="The descriptors compared (segment's "
                                                    "library uses the same set).")

    @classmethod
    def of(cls, answer: ScanSearchAnswer) -> ScanSearchResults:
        return cls(items=[SimilarScan.of(hit) for hit in answer.hits],
                   candidates=answer.candidates,
                   descriptor_set_version=answer.descriptor_set_version)
