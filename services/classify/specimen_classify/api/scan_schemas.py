"""Request and response bodies of ``/scans``, apart from the table and the domain entities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from specimen_classify.api.classification_schemas import Box, ModelRef
from specimen_classify.domain.scans import (
    MAX_HOSPITAL_CHARS,
    UNSET,
    Classification,
    PatientGender,
    Scan,
    ScanChanges,
    ScanFilters,
    ScanImage,
)
from specimen_kit.identifiers import MAX_RECORD_ID
from specimen_kit.paging import DEFAULT_LIMIT, LimitField, OffsetField
from specimen_kit.records import Page

MriLabelField = Literal["tumor", "healthy"]
NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
# The notes' limit is a setting the domain applies, with a message that names it; this loose cap
# only keeps absurd bodies out of validation.
_MAX_TEXT_FIELD = 100_000


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScanCreateFields(_Request):
    """The fields that come with the image (multipart form fields, or JSON members)."""

    patient_gender: PatientGender = Field(
        description="`unknown` when it is not known; the field is required so that it is never "
                    "left out by accident.")
    hospital: str | None = Field(
        default=None, max_length=MAX_HOSPITAL_CHARS,
        description="Defaults to yours; only an admin may name another hospital.")
    true_label: MriLabelField | None = Field(
        default=None, description="The diagnosis when known (for evaluating the model).")
    notes: str | None = Field(default=None, max_length=_MAX_TEXT_FIELD,
                              description="Free text; the length limit is a service setting.")

    @field_validator("hospital", "true_label", "notes", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        # An HTML form sends an untouched optional field as an empty string.
        return None if value == "" else value


class ScanUpdate(_Request):
    """A partial update (JSON merge semantics): a field left out keeps its value; ``null`` clears
    ``true_label`` and ``notes``. Moving to another ``hospital`` is for admins."""

    patient_gender: PatientGender | None = None
    true_label: MriLabelField | None = None
    notes: str | None = Field(default=None, max_length=_MAX_TEXT_FIELD)
    hospital: str | None = Field(default=None, max_length=MAX_HOSPITAL_CHARS)

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
            notes=self.notes if "notes" in given else UNSET)


class ScanFilterQuery(_Request):
    """Filters of the listing and the export; unknown parameters are refused (a typo never
    silently returns everything)."""

    hospital: str | None = Field(default=None, max_length=MAX_HOSPITAL_CHARS, pattern=NO_CONTROLS,
                                 description="Only this hospital's scans (admins see all).")
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
            hospital=self.hospital, label=self.label, true_label=self.true_label,
            patient_gender=self.patient_gender, model_version=self.model_version,
            created_after=self.created_after, created_before=self.created_before)


class ScanListQuery(ScanFilterQuery):
    limit: LimitField = DEFAULT_LIMIT
    offset: OffsetField = 0


class ClassificationPublic(BaseModel):
    label: MriLabelField
    probability: float = Field(description="The model's probability of `label`.")
    tumor_probability: float = Field(description="The model's probability of *tumor*.")
    model: ModelRef
    crop_box: Box = Field(description="Where the brain was found in the stored image.")
    classified_at: datetime

    @classmethod
    def of(cls, result: Classification) -> ClassificationPublic:
        return cls(label=result.label, probability=result.probability,
                   tumor_probability=result.tumor_probability, model=ModelRef.of(result.model),
                   crop_box=Box.of(result.crop_box), classified_at=result.classified_at)


class ScanImagePublic(BaseModel):
    media_type: str = Field(examples=["image/png", "application/dicom"])
    bytes: int = Field(description="Size of the image as it was sent.")

    @classmethod
    def of(cls, image: ScanImage) -> ScanImagePublic:
        return cls(media_type=image.media_type, bytes=image.bytes)


class ScanPublic(BaseModel):
    id: int
    hospital: str
    patient_gender: PatientGender
    true_label: MriLabelField | None
    notes: str | None
    created_by: int = Field(description="The id of the user who filed the scan.")
    created_at: datetime
    updated_at: datetime
    classification: ClassificationPublic
    image: ScanImagePublic

    @classmethod
    def of(cls, scan: Scan) -> ScanPublic:
        return cls(id=scan.id, hospital=scan.hospital, patient_gender=scan.patient_gender,
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
