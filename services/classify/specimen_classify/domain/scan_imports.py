"""Scan imports: a ZIP of MRI slices filed as scans, one job task per slice.

Pure rules; the archive is judged by the frames' reader
(:func:`specimen_classify.domain.plankton.frame_import.add_archive`, the same safety rules:
unsafe paths, size limits, zip-bomb ratios and encrypted members are rejected one by one, an
unreadable or oversized archive whole), and each slice is filed by
:meth:`specimen_classify.domain.scans.ScanRecords.create`, exactly as ``POST /scans`` files one.

- **Fields.** Each slice's ``patient_ref``, ``patient_gender``, ``true_label``, ``notes`` and
  ``hospital`` come from a CSV or TSV beside the slices (a ``metadata`` part or a ``.csv`` /
  ``.tsv`` member of the archive; ``file_name`` matches the member's path in the archive or its
  base name), over the form's fields (the defaults of every slice). ``patient_gender`` is
  required as on ``POST /scans`` (``unknown`` says so explicitly).
- **Per slice.** A bad value, a slice that is not an image, holds no brain or is not a brain MRI
  (the model abstains) fails that slice's task with the reason; the others are filed and the
  job completes (``succeeded``, with ``failed`` counted), as a run with a bad frame does.
- **Once.** A task files its slice at most once (the scan keeps its import task's id, unique):
  a task run again after its worker was lost finds the scan it filed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from specimen_classify.domain.errors import InvalidScanData, InvalidScanTable
from specimen_classify.domain.predictions import MriLabel
from specimen_classify.domain.scans import (
    MRI_LABELS,
    PATIENT_GENDERS,
    PatientGender,
    ScanUpload,
)

FIELDS = ("patient_ref", "patient_gender", "true_label", "notes", "hospital")
_COLUMN_ALIASES = {
    "file_name": "file_name", "filename": "file_name", "file": "file_name",
    "img_file_name": "file_name", "patient_ref": "patient_ref", "patient_gender": "patient_gender",
    "gender": "patient_gender", "true_label": "true_label", "notes": "notes", "hospital": "hospital",
}


@dataclass(frozen=True)
class ScanTable:
    """Rows of a scan import's table by file name; ``problems`` are rows that were left out
    (no file name, a repeated one), as ``(row, reason)``."""

    rows: dict[str, dict[str, str]]
    problems: list[tuple[str, str]]


def read_scan_table(name: str, data: bytes) -> ScanTable:
    """A CSV or TSV (by its suffix, else sniffed from its first line) with a ``file_name``
    column and any of :data:`FIELDS`.

    Raises
    ------
    InvalidScanTable
        Not UTF-8, empty, no ``file_name`` column, an unknown column, or not a readable table.

    Examples
    --------
    >>> table = read_scan_table("scans.csv", b"file_name,patient_gender\\na.png,female\\n")
    >>> table.rows
    {'a.png': {'file_name': 'a.png', 'patient_gender': 'female'}}
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidScanTable(f"{name} is not UTF-8 text", table=name) from None
    first = text.split("\n", 1)[0]
    delimiter = "\t" if name.lower().endswith(".tsv") or (
        not name.lower().endswith(".csv") and "\t" in first) else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidScanTable(f"{name} is empty; its first row names the columns", table=name)
        columns = []
        for raw in header:
            key = raw.strip().lower()
            if key not in _COLUMN_ALIASES:
                raise InvalidScanTable(f"{name}: column {raw!r} is unknown; use file_name, "
                                       f"{', '.join(FIELDS)}", table=name)
            columns.append(_COLUMN_ALIASES[key])
        if "file_name" not in columns:
            raise InvalidScanTable(f"{name} has no file_name column", table=name)
        rows: dict[str, dict[str, str]] = {}
        problems: list[tuple[str, str]] = []
        for number, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            values = {column: cell.strip() for column, cell in zip(columns, record, strict=False)}
            file_name = values.get("file_name", "")
            if not file_name:
                problems.append((f"{name} row {number}", "the row has no file_name"))
            elif file_name in rows:
                problems.append((file_name, f"{name} row {number} repeats a file_name; the first "
                                            "row is used"))
            else:
                rows[file_name] = values
    except csv.Error as error:  # a field past csv's size limit, a broken quote
        raise InvalidScanTable(f"{name} is not a readable table: {error}", table=name) from None
    return ScanTable(rows, problems)


def fields_of(member: str, tables: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The table row of an archive member: by its path in the archive, else its base name.

    >>> fields_of("2024/a.png", {"a.png": {"file_name": "a.png", "notes": "x"}})
    {'notes': 'x'}
    """
    row = tables.get(member) or tables.get(member.rsplit("/", 1)[-1]) or {}
    return {key: value for key, value in row.items() if key in FIELDS}


def scan_upload_of(data: bytes, fields: Mapping[str, str | None], defaults: Mapping[str, str | None],
                   import_task_id: int | None = None) -> ScanUpload:
    """What ``POST /scans`` would receive for one slice: its row's values over the defaults
    (the form's fields); an empty cell leaves the default.

    Raises
    ------
    InvalidScanData
        No ``patient_gender``, or a gender or true label that is not one of the choices.

    Examples
    --------
    >>> upload = scan_upload_of(b"...", {"true_label": "tumor"}, {"patient_gender": "male"})
    >>> upload.patient_gender, upload.true_label, upload.hospital
    ('male', 'tumor', None)
    """
    merged = {**{k: v for k, v in defaults.items() if v}, **{k: v for k, v in fields.items() if v}}
    gender = (merged.get("patient_gender") or "").strip().lower()
    if not gender:
        raise InvalidScanData("patient_gender", "patient_gender is required (female, male, other "
                                                "or unknown): give it in the table or the form")
    if gender not in PATIENT_GENDERS:
        raise InvalidScanData("patient_gender", f"patient_gender={gender!r} is not one of "
                                                f"{', '.join(PATIENT_GENDERS)}")
    true_label = (merged.get("true_label") or "").strip().lower() or None
    if true_label is not None and true_label not in MRI_LABELS:
        raise InvalidScanData("true_label", f"true_label={true_label!r} is not one of "
                                            f"{', '.join(MRI_LABELS)}")
    return ScanUpload(data=data, patient_gender=cast(PatientGender, gender),
                      hospital=merged.get("hospital") or None,
                      true_label=cast(MriLabel | None, true_label), notes=merged.get("notes"),
                      patient_ref=merged.get("patient_ref"), import_task_id=import_task_id)
