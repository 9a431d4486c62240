"""MRI scan records: a slice, who it belongs to, and what the active model said about it.

The reference design's ``/MRI/<id>``. A scan is filed for one hospital; the rules below are
enforced by the use-cases (:class:`ScanRecords`), whatever calls them:

- **Scope.** An admin sees and edits every scan. A technician or moderator sees only the scans
  of the hospital their token names. A scan outside the caller's scope answers
  :class:`~specimen_classify.domain.errors.ScanNotFound` (404, never 403) on every id route, so
  ids of other hospitals cannot be probed.
- **Hospitals.** A scan stores its hospital's id, the slug of the users service's list
  (:func:`specimen_kit.hospitals.hospital_slug`). The token's ``hospital`` claim is slugged
  before any comparison; the slug is idempotent, so tokens issued before the managed list
  (holding a name) still work. This service keeps no list: when an admin names a hospital other
  than their own, the users service is asked whether it exists (the :class:`HospitalDirectory`
  port); an unknown one is :class:`~specimen_classify.domain.errors.UnknownHospital` (422),
  and no answer is :class:`~specimen_classify.domain.errors.HospitalsUnavailable` (503).
- **Filing.** Anyone may file a scan (and classify it in doing so); the hospital defaults to the
  caller's. Naming another hospital is for admins only; a technician or moderator naming one
  gets :class:`~specimen_classify.domain.errors.HospitalNotAllowed` (403).
- **Patient reference.** ``patient_ref`` is the hospital's pseudonym of the patient (never a
  name or a national id): optional, trimmed, at most a configured number of characters, no
  control characters. It means something only within its hospital, so the same reference in
  two hospitals is two patients; ``?patient_ref=`` filters within the caller's scope.
- **Editing.** Changing a scan (gender, true label, notes, patient reference), re-classifying it
  and deleting it are for moderators (the doctors of the hospital) and admins; technicians
  read. Moving a scan to another hospital is for admins only.
- **Classification history.** Filing records the first classification; each
  re-classification appends one (model name and version, label, probabilities, the decision
  threshold the model applied, time) and becomes the scan's ``classification``; nothing is
  overwritten, so the record shows what every model said and when.
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
- **Described.** Filing a scan (one at a time or by an import) stores its slice's similarity
  descriptor in the same transaction (:mod:`~specimen_classify.domain.search_vectors`), so
  ``POST /scans/search`` finds it as soon as it exists.
- **Patient gender** is one of ``female``, ``male``, ``other``, ``unknown`` and is required:
  ``unknown`` says so explicitly rather than a silent default (DICOM's PatientSex has the
  same M/F/O plus none).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
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
    UnknownHospital,
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
from specimen_classify.domain.search_vectors import SCAN_DESCRIPTOR_SET_VERSION, describe_slice
from specimen_imaging.codecs import encode_image
from specimen_kit.errors import UnsupportedFormat
from specimen_kit.hospitals import hospital_slug, legacy_hospital_id
from specimen_kit.records import BlobStore, Content, Page
from specimen_kit.roles import Role
from specimen_kit.timestamps import as_utc, rfc3339

PatientGender = Literal["female", "male", "other", "unknown"]
PATIENT_GENDERS: tuple[str, ...] = get_args(PatientGender)
MRI_LABELS: tuple[str, ...] = get_args(MriLabel)
MAX_PATIENT_REF_CHARS = 128
"""The column's width: the configured limit of a patient reference may not exceed it."""

ScanSortField = Literal["id", "created_at", "updated_at", "classified_at", "tumor_probability",
                        "patient_ref"]

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
    "id", "hospital", "patient_ref", "patient_gender", "true_label", "label", "probability",
    "tumor_probability", "decision_threshold", "model_name", "model_version", "crop_min_row",
    "crop_min_col", "crop_max_row", "crop_max_col", "classified_at", "media_type", "image_bytes",
    "notes", "created_by", "created_at", "updated_at",
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
    """What a model said about a scan's slice, and when. ``decision_threshold`` is the tumor
    probability at or above which the model answered *tumor*; None for results recorded before
    it was kept."""

    label: MriLabel
    probability: float
    tumor_probability: float
    model: ModelVersion
    crop_box: BBox
    classified_at: datetime
    decision_threshold: float | None = None

    @classmethod
    def of(cls, prediction: MriPrediction, classified_at: datetime,
           decision_threshold: float | None = None) -> Classification:
        """Raises :class:`NotABrainMri` for an *uncertain* prediction: a record keeps a label."""
        answer = confident(prediction)
        return cls(label=answer.label, probability=answer.probability,
                   tumor_probability=answer.tumor_probability, model=prediction.model,
                   crop_box=prediction.crop_box, classified_at=classified_at,
                   decision_threshold=decision_threshold)


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
    patient_ref: str | None = None
    import_task_id: int | None = None


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
    patient_ref: str | None = None


@dataclass(frozen=True)
class ScanUpload:
    """What a caller sends to file a scan; ``hospital`` None means the caller's own."""

    data: bytes
    patient_gender: PatientGender
    hospital: str | None = None
    true_label: MriLabel | None = None
    notes: str | None = None
    patient_ref: str | None = None
    import_task_id: int | None = None
    """The scan-import task filing it (``POST /scans/imports``): a retried task files once."""


class _Unset(Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET
"""A :class:`ScanChanges` field left as it is (``None`` is a value for the nullable fields)."""


@dataclass(frozen=True)
class ScanChanges:
    """A partial update. ``None`` keeps ``patient_gender``/``hospital``; :data:`UNSET` keeps the
    nullable ``true_label``/``notes``/``patient_ref``, for which ``None`` clears the value."""

    patient_gender: PatientGender | None = None
    hospital: str | None = None
    true_label: MriLabel | _Unset | None = UNSET
    notes: str | _Unset | None = UNSET
    patient_ref: str | _Unset | None = UNSET

    @property
    def is_empty(self) -> bool:
        return (self.patient_gender is None and self.hospital is None
                and self.true_label is UNSET and self.notes is UNSET
                and self.patient_ref is UNSET)


@dataclass(frozen=True)
class ScanFilters:
    """Filters of the listing and the export; every one given must hold (AND).

    ``created_after`` is inclusive, ``created_before`` exclusive; a naive time is taken as UTC.
    ``hospital`` (an id, or a name that slugs to it) narrows an admin's view; for the others it
    can only narrow their own hospital (naming another gives an empty result, never another
    hospital's scans). ``patient_ref`` matches exactly, once trimmed.
    """

    hospital: str | None = None
    patient_ref: str | None = None
    label: MriLabel | None = None
    true_label: MriLabel | None = None
    patient_gender: PatientGender | None = None
    model_version: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def normalized(self) -> ScanFilters:
        """Times in UTC, the hospital as its id, the patient reference trimmed."""
        patient_ref = self.patient_ref.strip() if self.patient_ref is not None else None
        return replace(self, created_after=_in_utc(self.created_after),
                       created_before=_in_utc(self.created_before),
                       hospital=hospital_slug(self.hospital) if self.hospital is not None else None,
                       patient_ref=patient_ref or None)


@dataclass(frozen=True)
class ScanSort:
    """The listing's order; ties are broken by id in the same direction, so pages never overlap."""

    field: ScanSortField = "created_at"
    descending: bool = True


# --- ports --------------------------------------------------------------------------------


class ScanRepository(Protocol):
    """Rows of scans. Flushes, never commits. ``scope`` is a hospital, or None for all."""

    def add(self, draft: ScanDraft) -> Scan:
        """Insert the row and answer it with the id the database gave."""
        ...

    def get(self, scan_id: int, scope: str | None) -> Scan | None: ...

    def by_import_task(self, task_id: int) -> Scan | None:
        """The scan an import task filed, if it did."""
        ...

    def page(self, scope: str | None, filters: ScanFilters, sort: ScanSort, limit: int,
             offset: int) -> tuple[list[Scan], int]:
        """One page in ``sort`` order, and the total that matches."""
        ...

    def count(self, scope: str | None, filters: ScanFilters) -> int: ...

    def every(self, scope: str | None, filters: ScanFilters) -> list[Scan]:
        """Every matching scan, newest first."""
        ...

    def save(self, scan: Scan) -> bool:
        """Write the scan's mutable fields; False when its row no longer exists."""
        ...

    def delete(self, scan_id: int) -> None:
        """Delete the scan and its classification history."""
        ...

    def record_classification(self, scan_id: int, classification: Classification) -> None:
        """Append one result to the scan's history."""
        ...

    def classifications(self, scan_id: int, limit: int,
                        offset: int) -> tuple[list[Classification], int]:
        """One page of the scan's history, newest first, and its length."""
        ...


class ScanDescriptorWriter(Protocol):
    """Where a filed scan's descriptor rows go. Flushes, never commits."""

    def put(self, scan_id: int, version: str, rows: npt.NDArray[np.float32]) -> None:
        """Store the scan's rows (row ``i`` is region ``i``), replacing those it had."""
        ...


class HospitalDirectory(Protocol):
    """The list of hospitals, which the users service keeps."""

    def exists(self, hospital_id: str) -> bool:
        """Whether ``hospital_id`` is on the list; raises
        :class:`~specimen_classify.domain.errors.HospitalsUnavailable` when it cannot tell."""
        ...


# --- rules --------------------------------------------------------------------------------


def visible_hospital(caller: Caller) -> str | None:
    """The hospital whose scans ``caller`` may see, or None when they may see all (admin).

    Examples
    --------
    >>> from types import SimpleNamespace as Who
    >>> visible_hospital(Who(user_id=1, role=Role.ADMIN, hospital="General")) is None
    True
    >>> visible_hospital(Who(user_id=2, role=Role.TECHNICIAN, hospital="General"))
    'general'
    """
    return None if caller.role is Role.ADMIN else own_hospital(caller)


def own_hospital(caller: Caller) -> str:
    """The id of the caller's hospital: the token's claim as the migrations turned names into
    ids (a no-op on an id), so tokens issued before the managed list, naming the hospital,
    still work until they expire."""
    return legacy_hospital_id(caller.hospital)


def hospital_for_scan(caller: Caller, requested: str | None) -> str:
    """The id of the hospital a scan is filed for (or moved to) when ``caller`` names
    ``requested`` (an id, or a name that slugs to it).

    Raises
    ------
    HospitalNotAllowed
        A technician or moderator named a hospital other than their own.
    InvalidHospitalName
        ``requested`` has no letter or digit, or is too long.
    """
    own = own_hospital(caller)
    if requested is None:
        return own
    hospital = hospital_slug(requested)
    if caller.role is not Role.ADMIN and hospital != own:
        raise HospitalNotAllowed(hospital, own)
    return hospital


def require_editor(caller: Caller) -> None:
    """Raise :class:`ScanEditForbidden` unless ``caller`` may change scans (moderator, admin)."""
    if not caller.role.at_least(Role.MODERATOR):
        raise ScanEditForbidden(
            "changing, re-classifying or deleting a scan needs the role moderator or higher")


def normalize_patient_ref(patient_ref: str | None, max_chars: int) -> str | None:
    """A patient reference as stored: trimmed, None when empty, at most ``max_chars``
    characters, no control characters at all.

    Examples
    --------
    >>> normalize_patient_ref("  P-0042 ", 64)
    'P-0042'
    >>> normalize_patient_ref(" ", 64) is None
    True
    """
    if patient_ref is None:
        return None
    trimmed = patient_ref.strip()
    if not trimmed:
        return None
    if len(trimmed) > max_chars:
        raise InvalidScanData("patient_ref", f"the patient reference has {len(trimmed)} "
                                             f"characters; the limit is {max_chars}")
    if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in trimmed):
        raise InvalidScanData("patient_ref", "the patient reference contains control "
                                             "characters; remove them")
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


def _in_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


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
        scan.id, scan.hospital, scan.patient_ref, scan.patient_gender, scan.true_label,
        result.label, result.probability, result.tumor_probability, result.decision_threshold,
        result.model.name, result.model.version, *result.crop_box, rfc3339(result.classified_at),
        scan.image.media_type, scan.image.bytes, scan.notes, scan.created_by,
        rfc3339(scan.created_at), rfc3339(scan.updated_at),
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
    if changes.patient_ref is not UNSET:
        values["patient_ref"] = changes.patient_ref
    return replace(scan, **values)


# --- use-cases ----------------------------------------------------------------------------


class ScanRecords:
    """The scan use-cases of one request."""

    def __init__(self, repository: ScanRepository, blobs: BlobStore, *, read_image: ImageReader,
                 clock: Clock, hospitals: HospitalDirectory, descriptors: ScanDescriptorWriter,
                 notes_max_chars: int, patient_ref_max_chars: int, export_max_rows: int) -> None:
        self._rows = repository
        self._descriptors = descriptors
        self._blobs = blobs
        self._read_image = read_image
        self._clock = clock
        self._hospitals = hospitals
        self._notes_max_chars = notes_max_chars
        self._patient_ref_max_chars = patient_ref_max_chars
        self._export_max_rows = export_max_rows

    def create(self, caller: Caller, upload: ScanUpload, model: MriModel) -> Scan:
        """Check, decode and classify the slice, then keep the image, the record and its first
        classification."""
        if upload.import_task_id is not None:
            # A retried import task (its worker lost after the commit) files nothing twice.
            filed = self._rows.by_import_task(upload.import_task_id)
            if filed is not None:
                return filed
        hospital = self._hospital_for(caller, upload.hospital)
        notes = normalize_notes(upload.notes, self._notes_max_chars)
        patient_ref = normalize_patient_ref(upload.patient_ref, self._patient_ref_max_chars)
        pixels = self._read_image(upload.data)
        prediction = self._classify_pixels(pixels, model)
        media_type = media_type_of(upload.data)
        key = self._blobs.put(upload.data)
        now = self._clock()
        classification = Classification.of(prediction, now, model.decision_threshold)
        scan = self._rows.add(ScanDraft(
            hospital=hospital, patient_gender=upload.patient_gender,
            true_label=upload.true_label, notes=notes, created_by=caller.user_id, created_at=now,
            classification=classification, patient_ref=patient_ref,
            import_task_id=upload.import_task_id,
            image=ScanImage(key=key, media_type=media_type, bytes=len(upload.data))))
        self._rows.record_classification(scan.id, classification)
        self._descriptors.put(scan.id, SCAN_DESCRIPTOR_SET_VERSION, describe_slice(pixels))
        return scan

    def list_scans(self, caller: Caller, filters: ScanFilters, sort: ScanSort, limit: int,
                   offset: int) -> Page[Scan]:
        items, total = self._rows.page(visible_hospital(caller), filters.normalized(), sort,
                                       limit, offset)
        return Page(items, total, limit, offset)

    def classifications(self, caller: Caller, scan_id: int, limit: int,
                        offset: int) -> Page[Classification]:
        """The scan's classification history, newest first."""
        scan = self.get(caller, scan_id)
        items, total = self._rows.classifications(scan.id, limit, offset)
        return Page(items, total, limit, offset)

    def get(self, caller: Caller, scan_id: int) -> Scan:
        scan = self._rows.get(scan_id, visible_hospital(caller))
        if scan is None:
            raise ScanNotFound(scan_id)
        return scan

    def find(self, caller: Caller, scan_id: int) -> Scan | None:
        """The scan if ``caller`` may see it, else None (no error: a search's candidate)."""
        return self._rows.get(scan_id, visible_hospital(caller))

    def image(self, caller: Caller, scan_id: int) -> Content:
        """The slice's bytes as they were sent."""
        scan = self.get(caller, scan_id)
        return Content(self._blobs.get(scan.image.key), scan.image.media_type,
                       scan_filename(scan))

    def converted(self, sent: Content, fmt: str, quality: int | None = None) -> Content:
        """``sent`` (from :meth:`image`) as the classifier reads it, 8-bit gray with a DICOM's
        window applied, encoded as ``fmt``: how a browser shows a DICOM slice."""
        stem = sent.filename.rsplit(".", 1)[0]
        data = encode_image(self._read_image(sent.data), fmt, quality)
        return Content(data, f"image/{fmt}", f"{stem}.{fmt}")

    def update(self, caller: Caller, scan_id: int, changes: ScanChanges) -> Scan:
        require_editor(caller)
        scan = self.get(caller, scan_id)
        checked = replace(
            changes,
            hospital=(None if changes.hospital is None
                      else self._hospital_for(caller, changes.hospital)),
            notes=(changes.notes if isinstance(changes.notes, _Unset)
                   else normalize_notes(changes.notes, self._notes_max_chars)),
            patient_ref=(changes.patient_ref if isinstance(changes.patient_ref, _Unset)
                         else normalize_patient_ref(changes.patient_ref,
                                                    self._patient_ref_max_chars)))
        changed = apply_changes(scan, checked, self._clock())
        return self._save(changed) if changed is not scan else scan

    def reclassify(self, caller: Caller, scan_id: int, model: MriModel) -> Scan:
        """Classify the stored slice again with ``model``: the result is appended to the
        history and becomes the scan's current classification."""
        require_editor(caller)
        scan = self.get(caller, scan_id)
        prediction = self._classify(self._blobs.get(scan.image.key), model)
        now = self._clock()
        classification = Classification.of(prediction, now, model.decision_threshold)
        saved = self._save(replace(scan, classification=classification, updated_at=now))
        self._rows.record_classification(scan.id, classification)
        return saved

    def delete(self, caller: Caller, scan_id: int) -> None:
        """Delete the record; its image goes once the deletion is committed."""
        require_editor(caller)
        scan = self.get(caller, scan_id)
        self._rows.delete(scan.id)
        self._blobs.remove(scan.image.key)

    def export_csv(self, caller: Caller, filters: ScanFilters) -> str:
        """The matching scans as CSV (:func:`scans_csv`), at most ``export_max_rows`` of them."""
        scope, filters = visible_hospital(caller), filters.normalized()
        rows = self._rows.count(scope, filters)
        if rows > self._export_max_rows:
            raise ExportTooLarge(rows, self._export_max_rows)
        return scans_csv(self._rows.every(scope, filters))

    def _hospital_for(self, caller: Caller, requested: str | None) -> str:
        """:func:`hospital_for_scan`, and for a hospital other than the caller's own (an
        admin's choice), the users service's word that it exists."""
        hospital = hospital_for_scan(caller, requested)
        if requested is not None and hospital != own_hospital(caller) \
                and not self._hospitals.exists(hospital):
            raise UnknownHospital(requested, hospital)
        return hospital

    def _classify(self, data: bytes, model: MriModel) -> MriPrediction:
        return self._classify_pixels(self._read_image(data), model)

    def _classify_pixels(self, pixels: npt.NDArray[np.uint8], model: MriModel) -> MriPrediction:
        prediction = classify_slices([pixels], model)[0]
        # An out-of-distribution slice has no label to record: refused (422 not-a-brain-mri)
        # before its image is stored.
        confident(prediction)
        return prediction

    def _save(self, scan: Scan) -> Scan:
        if not self._rows.save(scan):
            raise ScanNotFound(scan.id)  # deleted by another request meanwhile
        return scan

