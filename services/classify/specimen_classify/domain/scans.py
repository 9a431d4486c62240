"""MRI scan records: a slice, who it belongs to, and what the active model said about it.

The reference design's ``/MRI/<id>``. A scan is filed for one hospital; the rules below are
enforced by the use-cases (:class:`ScanRecords`), whatever calls them:

- **Scope.** An admin sees and edits every scan. A technician or moderator sees only the scans
  of the hospital their token names. A scan outside the caller's scope answers
  :class:`~specimen_classify.domain.errors.ScanNotFound` (404, never 403) on every id route, so
  ids of other hospitals cannot be probed.
- **Filing.** Anyone may file a scan (and classify it in doing so); the hospital defaults to the
  caller's. Naming another hospital is for admins only; a technician or moderator naming one
  gets :class:`~specimen_classify.domain.errors.HospitalNotAllowed` (403). The hospital is a
  name as the users service issues it in tokens (trimmed, 1 to :data:`MAX_HOSPITAL_CHARS`
  characters); this service keeps no list of hospitals, so an admin's name is checked for its
  form only.
- **Editing.** Changing a scan (gender, true label, notes), re-classifying it and deleting it
  are for moderators (the doctors of the hospital) and admins; technicians read. A
  re-classification overwrites the recorded result with the active model's, which changes the
  clinical record, so it is an edit like the others. Moving a scan to another hospital is for
  admins only.
- **No brain, no record.** A slice in which no head outline is found (blank, flat, only
  specks) is refused with ``NoBrainFound`` (422) and nothing is stored: a scan record always
  carries a classification.
- **Stored as sent.** The image is kept byte for byte with the media type read from its content
  (``image/png``, ``image/jpeg``, ``image/tiff``, ``application/dicom``), never the one the
  client claimed.
- **No orphans, nothing lost.** The image is decoded and classified before anything is written;
  its blob is written before the row is inserted, deleted again if the request's transaction
  fails, and a deleted scan's blob is removed only after the deletion committed (the
  :class:`BlobStore` port; :mod:`specimen_kit.blobs`). ``python -m specimen_classify
  sweep-orphans`` removes what a crash leaves.
- **Patient gender** is one of ``female``, ``male``, ``other``, ``unknown`` and is required:
  ``unknown`` says so explicitly rather than a silent default (DICOM's PatientSex has the
  same M/F/O plus none).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Literal, Protocol, TypeVar, get_args

import numpy as np
import numpy.typing as npt

from specimen_classify.domain.errors import (
    ExportTooLarge,
    HospitalNotAllowed,
    InvalidScanData,
    ScanEditForbidden,
    ScanNotFound,
)
from specimen_classify.domain.predictions import (
    ModelVersion,
    MriLabel,
    MriModel,
    MriPrediction,
    classify_slices,
    confident,
)
from specimen_classify.domain.preprocessing import BBox
from specimen_kit.errors import UnsupportedFormat
from specimen_kit.records import BlobStore, Content, Page
from specimen_kit.roles import Role

PatientGender = Literal["female", "male", "other", "unknown"]
PATIENT_GENDERS: tuple[str, ...] = get_args(PatientGender)
MRI_LABELS: tuple[str, ...] = get_args(MriLabel)
MAX_HOSPITAL_CHARS = 120
"""The users service's limit for a hospital name."""

DICOM_MEDIA_TYPE = "application/dicom"
_DICOM_MAGIC_OFFSET = 128
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),  # BigTIFF
    (b"MM\x00+", "image/tiff"),
)
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/tiff": "tif", DICOM_MEDIA_TYPE: "dcm"}
# Line breaks and tabs belong in free text; other control characters only hide things.
_ALLOWED_CONTROLS = frozenset("\t\n\r")
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection"),
# full-width forms included, which some spreadsheets fold to their ASCII twins.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

CSV_COLUMNS = (
    "id", "hospital", "patient_gender", "true_label", "label", "probability",
    "tumor_probability", "model_name", "model_version", "crop_min_row", "crop_min_col",
    "crop_max_row", "crop_max_col", "classified_at", "media_type", "image_bytes", "notes",
    "created_by", "created_at", "updated_at",
)

T = TypeVar("T")
Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware UTC."""
ImageReader = Callable[[bytes], npt.NDArray[np.uint8]]
"""Decodes slice bytes into 8-bit gray pixels with the service's pixel limit; raises a kit
``Problem`` (4xx) for anything unreadable (:func:`specimen_classify.adapters.mri_images.read_mri`)."""


class Caller(Protocol):
    """Who is asking, as the access token says (:class:`specimen_kit.tokens.Principal`)."""

    @property
    def user_id(self) -> int: ...

    @property
    def role(self) -> Role: ...

    @property
    def hospital(self) -> str: ...


# --- entities -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    """What a model said about a scan's slice, and when."""

    label: MriLabel
    probability: float
    tumor_probability: float
    model: ModelVersion
    crop_box: BBox
    classified_at: datetime

    @classmethod
    def of(cls, prediction: MriPrediction, classified_at: datetime) -> Classification:
        """Raises :class:`NotABrainMri` for an *uncertain* prediction: a record keeps a label."""
        answer = confident(prediction)
        return cls(label=answer.label, probability=answer.probability,
                   tumor_probability=answer.tumor_probability, model=prediction.model,
                   crop_box=prediction.crop_box, classified_at=classified_at)


@dataclass(frozen=True)
class ScanImage:
    """The slice's bytes as sent: their blob key, media type and size."""

    key: str
    media_type: str
    bytes: int


@dataclass(frozen=True)
class ScanDraft:
    """A scan before the database has given it an id."""

    hospital: str
    patient_gender: PatientGender
    true_label: MriLabel | None
    notes: str | None
    created_by: int
    created_at: datetime
    classification: Classification
    image: ScanImage


@dataclass(frozen=True)
class Scan:
    """A stored scan record. ``created_by`` is the users service's id of who filed it."""

    id: int
    hospital: str
    patient_gender: PatientGender
    true_label: MriLabel | None
    notes: str | None
    created_by: int
    created_at: datetime
    updated_at: datetime
    classification: Classification
    image: ScanImage


@dataclass(frozen=True)
class ScanUpload:
    """What a caller sends to file a scan; ``hospital`` None means the caller's own."""

    data: bytes
    patient_gender: PatientGender
    hospital: str | None = None
    true_label: MriLabel | None = None
    notes: str | None = None


class _Unset(Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET
"""A :class:`ScanChanges` field left as it is (``None`` is a value for the nullable fields)."""


@dataclass(frozen=True)
class ScanChanges:
    """A partial update. ``None`` keeps ``patient_gender``/``hospital``; :data:`UNSET` keeps the
    nullable ``true_label``/``notes``, for which ``None`` clears the value."""

    patient_gender: PatientGender | None = None
    hospital: str | None = None
    true_label: MriLabel | _Unset | None = UNSET
    notes: str | _Unset | None = UNSET

    @property
    def is_empty(self) -> bool:
        return (self.patient_gender is None and self.hospital is None
                and self.true_label is UNSET and self.notes is UNSET)


@dataclass(frozen=True)
class ScanFilters:
    """Filters of the listing and the export; every one given must hold (AND).

    ``created_after`` is inclusive, ``created_before`` exclusive; a naive time is taken as UTC.
    ``hospital`` narrows an admin's view; for the others it can only narrow their own hospital
    (naming another gives an empty result, never another hospital's scans).
    """

    hospital: str | None = None
    label: MriLabel | None = None
    true_label: MriLabel | None = None
    patient_gender: PatientGender | None = None
    model_version: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def in_utc(self) -> ScanFilters:
        return replace(self, created_after=as_utc(self.created_after),
                       created_before=as_utc(self.created_before))


# --- ports --------------------------------------------------------------------------------


class ScanRepository(Protocol):
    """Rows of scans. Flushes, never commits. ``scope`` is a hospital, or None for all."""

    def add(self, draft: ScanDraft) -> Scan:
        """Insert the row and answer it with the id the database gave."""
        ...

    def get(self, scan_id: int, scope: str | None) -> Scan | None: ...

    def page(self, scope: str | None, filters: ScanFilters, limit: int,
             offset: int) -> tuple[list[Scan], int]:
        """One page, newest first, and the total that matches."""
        ...

    def count(self, scope: str | None, filters: ScanFilters) -> int: ...

    def every(self, scope: str | None, filters: ScanFilters) -> list[Scan]:
        """Every matching scan, newest first."""
        ...

    def save(self, scan: Scan) -> bool:
        """Write the scan's mutable fields; False when its row no longer exists."""
        ...

    def delete(self, scan_id: int) -> None: ...


# --- rules --------------------------------------------------------------------------------


def visible_hospital(caller: Caller) -> str | None:
    """The hospital whose scans ``caller`` may see, or None when they may see all (admin).

    Examples
    --------
    >>> from types import SimpleNamespace as Who
    >>> visible_hospital(Who(user_id=1, role=Role.ADMIN, hospital="General")) is None
    True
    >>> visible_hospital(Who(user_id=2, role=Role.TECHNICIAN, hospital="General"))
    'General'
    """
    return None if caller.role is Role.ADMIN else caller.hospital


def hospital_for_scan(caller: Caller, requested: str | None) -> str:
    """The hospital a scan is filed for (or moved to) when ``caller`` names ``requested``.

    Raises
    ------
    HospitalNotAllowed
        A technician or moderator named a hospital other than their own.
    InvalidScanData
        The name is empty once trimmed or longer than :data:`MAX_HOSPITAL_CHARS`.
    """
    if requested is None:
        return caller.hospital
    hospital = normalize_hospital(requested)
    if caller.role is not Role.ADMIN and hospital != caller.hospital:
        raise HospitalNotAllowed(hospital, caller.hospital)
    return hospital


def require_editor(caller: Caller) -> None:
    """Raise :class:`ScanEditForbidden` unless ``caller`` may change scans (moderator, admin)."""
    if not caller.role.at_least(Role.MODERATOR):
        raise ScanEditForbidden(
            "changing, re-classifying or deleting a scan needs the role moderator or higher")


def normalize_hospital(hospital: str) -> str:
    """Trimmed, 1 to :data:`MAX_HOSPITAL_CHARS` characters (the users service's rule), no control
    characters (PostgreSQL text cannot even hold NUL).

    Examples
    --------
    >>> normalize_hospital("  General ")
    'General'
    """
    trimmed = hospital.strip()
    if not 1 <= len(trimmed) <= MAX_HOSPITAL_CHARS:
        raise InvalidScanData("hospital", f"the hospital must have 1 to {MAX_HOSPITAL_CHARS} "
                                          f"characters once trimmed, not {len(trimmed)}")
    if any(ord(char) < 32 or ord(char) == 127 for char in trimmed):
        raise InvalidScanData("hospital", "the hospital contains control characters; remove them")
    return trimmed


def normalize_notes(notes: str | None, max_chars: int) -> str | None:
    """Notes as stored: trimmed, None when empty, at most ``max_chars`` characters.

    Line breaks and tabs are kept; other control characters are refused.

    Examples
    --------
    >>> normalize_notes("  follow-up in 3 months\\n ", 100)
    'follow-up in 3 months'
    >>> normalize_notes("   ", 100) is None
    True
    """
    if notes is None:
        return None
    trimmed = notes.strip()
    if not trimmed:
        return None
    if len(trimmed) > max_chars:
        raise InvalidScanData("notes", f"the notes have {len(trimmed)} characters; the limit is "
                                       f"{max_chars}")
    if any((ord(char) < 32 and char not in _ALLOWED_CONTROLS) or ord(char) == 127
           for char in trimmed):
        raise InvalidScanData("notes", "the notes contain control characters other than line "
                                       "breaks and tabs; remove them")
    return trimmed


def media_type_of(data: bytes) -> str:
    """The media type of slice bytes, from their signature (DICOM: ``DICM`` after 128 bytes).

    Raises
    ------
    UnsupportedFormat
        Neither PNG, JPEG, TIFF nor DICOM.

    Examples
    --------
    >>> media_type_of(b"\\x89PNG\\r\\n\\x1a\\n...")
    'image/png'
    >>> media_type_of(bytes(128) + b"DICM")
    'application/dicom'
    """
    if data[_DICOM_MAGIC_OFFSET:_DICOM_MAGIC_OFFSET + 4] == b"DICM":
        return DICOM_MEDIA_TYPE
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    raise UnsupportedFormat("MRI slices are kept as PNG, JPEG, TIFF or DICOM files; this is none")


def scan_filename(scan: Scan) -> str:
    """The download name of a scan's image: ``scan-12.png``, ``scan-13.dcm``."""
    return f"scan-{scan.id}.{_EXTENSIONS.get(scan.image.media_type, 'bin')}"


def as_utc(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC; a naive one is taken to be UTC already."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def csv_cell(value: object) -> object:
    """A value made safe for a spreadsheet: text that would run as a formula gets a ``'`` first.

    Numbers and None pass unchanged (None becomes an empty cell).

    Examples
    --------
    >>> csv_cell("=HYPERLINK(\\"http://x\\")"), csv_cell("-2+3"), csv_cell("ok"), csv_cell(0.25)
    ('\\'=HYPERLINK("http://x")', "'-2+3", 'ok', 0.25)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv_row(scan: Scan) -> list[object]:
    result = scan.classification
    values: list[object] = [
        scan.id, scan.hospital, scan.patient_gender, scan.true_label, result.label,
        result.probability, result.tumor_probability, result.model.name, result.model.version,
        *result.crop_box, result.classified_at.isoformat(), scan.image.media_type,
        scan.image.bytes, scan.notes, scan.created_by, scan.created_at.isoformat(),
        scan.updated_at.isoformat(),
    ]
    return [csv_cell(value) for value in values]


def scans_csv(scans: Iterable[Scan]) -> str:
    """RFC 4180 CSV (CRLF, quoted where needed): a header row of :data:`CSV_COLUMNS`, then one row
    per scan; every text cell passes :func:`csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(scan) for scan in scans)
    return out.getvalue()


def apply_changes(scan: Scan, changes: ScanChanges, now: datetime) -> Scan:
    """``scan`` with ``changes`` (already checked) applied and ``updated_at`` moved to ``now``;
    ``scan`` itself when there is nothing to change."""
    if changes.is_empty:
        return scan
    values: dict[str, Any] = {"updated_at": now}
    if changes.patient_gender is not None:
        values["patient_gender"] = changes.patient_gender
    if changes.hospital is not None:
        values["hospital"] = changes.hospital
    if changes.true_label is not UNSET:
        values["true_label"] = changes.true_label
    if changes.notes is not UNSET:
        values["notes"] = changes.notes
    return replace(scan, **values)


# --- use-cases ----------------------------------------------------------------------------


class ScanRecords:
    """The scan use-cases of one request."""

    def __init__(self, repository: ScanRepository, blobs: BlobStore, *, read_image: ImageReader,
                 clock: Clock, notes_max_chars: int, export_max_rows: int) -> None:
        self._rows = repository
        self._blobs = blobs
        self._read_image = read_image
        self._clock = clock
        self._notes_max_chars = notes_max_chars
        self._export_max_rows = export_max_rows

    def create(self, caller: Caller, upload: ScanUpload, model: MriModel) -> Scan:
        """Check, decode and classify the slice, then keep the image and the record."""
        hospital = hospital_for_scan(caller, upload.hospital)
        notes = normalize_notes(upload.notes, self._notes_max_chars)
        prediction = self._classify(upload.data, model)
        media_type = media_type_of(upload.data)
        key = self._blobs.put(upload.data)
        now = self._clock()
        return self._rows.add(ScanDraft(
            hospital=hospital, patient_gender=upload.patient_gender,
            true_label=upload.true_label, notes=notes, created_by=caller.user_id, created_at=now,
            classification=Classification.of(prediction, now),
            image=ScanImage(key=key, media_type=media_type, bytes=len(upload.data))))

    def list_scans(self, caller: Caller, filters: ScanFilters, limit: int,
                   offset: int) -> Page[Scan]:
        items, total = self._rows.page(visible_hospital(caller), filters.in_utc(), limit, offset)
        return Page(items, total, limit, offset)

    def get(self, caller: Caller, scan_id: int) -> Scan:
        scan = self._rows.get(scan_id, visible_hospital(caller))
        if scan is None:
            raise ScanNotFound(scan_id)
        return scan

    def image(self, caller: Caller, scan_id: int) -> Content:
        """The slice's bytes as they were sent."""
        scan = self.get(caller, scan_id)
        return Content(self._blobs.get(scan.image.key), scan.image.media_type,
                       scan_filename(scan))

    def update(self, caller: Caller, scan_id: int, changes: ScanChanges) -> Scan:
        require_editor(caller)
        scan = self.get(caller, scan_id)
        checked = replace(
            changes,
            hospital=None if changes.hospital is None else hospital_for_scan(caller, changes.hospital),
            notes=(changes.notes if isinstance(changes.notes, _Unset)
                   else normalize_notes(changes.notes, self._notes_max_chars)))
        changed = apply_changes(scan, checked, self._clock())
        return self._save(changed) if changed is not scan else scan

    def reclassify(self, caller: Caller, scan_id: int, model: MriModel) -> Scan:
        """Classify the stored slice again with ``model``, replacing the recorded result."""
        require_editor(caller)
        scan = self.get(caller, scan_id)
        prediction = self._classify(self._blobs.get(scan.image.key), model)
        now = self._clock()
        return self._save(replace(scan, classification=Classification.of(prediction, now),
                                  updated_at=now))

    def delete(self, caller: Caller, scan_id: int) -> None:
        """Delete the record; its image goes once the deletion is committed."""
        require_editor(caller)
        scan = self.get(caller, scan_id)
        self._rows.delete(scan.id)
        self._blobs.remove(scan.image.key)

    def export_csv(self, caller: Caller, filters: ScanFilters) -> str:
        """The matching scans as CSV (:func:`scans_csv`), at most ``export_max_rows`` of them."""
        scope, filters = visible_hospital(caller), filters.in_utc()
        rows = self._rows.count(scope, filters)
        if rows > self._export_max_rows:
            raise ExportTooLarge(rows, self._export_max_rows)
        return scans_csv(self._rows.every(scope, filters))

    def _classify(self, data: bytes, model: MriModel) -> MriPrediction:
        prediction = classify_slices([self._read_image(data)], model)[0]
        # An out-of-distribution slice has no label to record: refused (422 not-a-brain-mri)
        # before its image is stored.
        confident(prediction)
        return prediction

    def _save(self, scan: Scan) -> Scan:
        if not self._rows.save(scan):
            raise ScanNotFound(scan.id)  # deleted by another request meanwhile
        return scan

