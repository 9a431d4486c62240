"""Reading an EcoTaxa TSV back as EcoTaxa's importer would, to say what it would refuse.

The checks follow EcoTaxa's import validation (``ecotaxa_back``'s ``TSVFile.validate_*``):
the encoding (latin-1 unless a UTF-8 BOM; Specimen also refuses non-ASCII bytes without a BOM,
since they would import as mojibake), header names ``<table>_<field>`` of a known table, the
types line (``[f]``/``[t]`` for object columns), no value in a header-less column, the required
``object_id`` and ``img_file_name`` on every line, unique (object_id, img_file_name), numbers in
``[f]`` columns, latitude and longitude ranges, ``YYYYMMDD`` dates and ``HHMMSS`` times, the
annotation status values and the status ⇔ category pairing, one sample per acquisition, and
(when the archive's file names are given) the image beside the TSV.

>>> report = check_ecotaxa_tsv(b"img_file_name\\tobject_id\\n[t]\\t[t]\\na.png\\ta\\n")
>>> report.ok, report.rows
(True, 1)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from specimen_classify.domain.plankton.ecotaxa import (
    ANNOTATION_STATUSES,
    BOM,
    MAX_COLUMN_NAME,
    TABLE_PREFIXES,
)

REQUIRED_COLUMNS = ("img_file_name", "object_id")
_NUMERIC_PREDEFINED = frozenset(
    {"object_lat", "object_lon", "object_depth_min", "object_depth_max", "img_rank",
     "object_annotation_category_id"}
)
_MAX_ERRORS = 50


@dataclass
class EcotaxaImportReport:
    """What EcoTaxa's importer would say: the errors (at most 50 kept), rows and columns read."""

    errors: list[str] = field(default_factory=list)
    rows: int = 0
    columns: tuple[str, ...] = ()
    types: dict[str, str] = field(default_factory=dict)
    encoding: str = "latin_1"
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def error(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(message)


def _decode(data: bytes, report: EcotaxaImportReport) -> str:
    if data.startswith(BOM):
        report.encoding = "utf-8-sig"
        try:
            return data[len(BOM):].decode("utf-8")
        except UnicodeDecodeError as exc:
            report.error(f"the file starts with a UTF-8 BOM but is not UTF-8: {exc}")
            return data[len(BOM):].decode("utf-8", errors="replace")
    if not data.isascii():
        report.error(
            "the file has non-ASCII bytes but no UTF-8 byte-order mark: EcoTaxa reads it as "
            "latin-1, so accented text would import garbled"
        )
    return data.decode("latin_1")


def _is_float(text: str) -> bool:
    if text.lower() in ("nan", "na"):
        return True
    try:
        value = float(text)
    except ValueError:
        return False
    return value != float("-inf")


def _valid_moment(text: str, pattern: str) -> bool:
    try:
        datetime.strptime(text, pattern)
    except ValueError:
        return False
    return True


def _check_header(columns: list[str], types: dict[str, str], report: EcotaxaImportReport) -> None:
    seen: set[str] = set()
    prefixes: dict[str, set[str]] = {}
    for name in columns:
        if name in seen:
            report.error(f"column {name!r} appears twice")
        seen.add(name)
        if len(name) > MAX_COLUMN_NAME:
            report.error(f"column {name[:40]!r}… is {len(name)} characters long (at most {MAX_COLUMN_NAME})")
        table, _, rest = name.partition("_")
        if not rest:
            report.error(f"invalid header {name!r}: the format is <table>_<field>")
            continue
        if table not in TABLE_PREFIXES:
            report.error(f"invalid header {name!r}: unknown table prefix {table!r}")
            continue
        prefixes.setdefault(table, set()).add(name)
        if table == "object" and types.get(name) not in ("[f]", "[t]"):
            report.error(f"invalid type {types.get(name)!r} for column {name!r}: [f] or [t]")
    for required in REQUIRED_COLUMNS:
        if required not in seen:
            report.error(f"the column {required!r} is required")
    for table in ("sample", "acq", "process"):
        if table in prefixes and f"{table}_id" not in prefixes[table]:
            report.error(f"{table}_id is required as there are {table} columns: {sorted(prefixes[table])}")


def _check_cell(line: int, name: str, value: str, kind: str, report: EcotaxaImportReport) -> None:
    if name == "object_lat":
        if not _is_float(value) or not -90 <= float(value) <= 90:
            report.error(f"line {line}: invalid latitude {value!r} (-90 to 90)")
    elif name == "object_lon":
        if not _is_float(value) or not -180 <= float(value) <= 180:
            report.error(f"line {line}: invalid longitude {value!r} (-180 to 180)")
    elif (kind == "[f]" and name.startswith("object_")) or name in _NUMERIC_PREDEFINED:
        if not _is_float(value):
            report.error(f"line {line}: invalid float value {value!r} for {name!r}")
    elif name in ("object_date", "object_annotation_date"):
        if len(value) != 8 or not _valid_moment(value, "%Y%m%d"):
            report.error(f"line {line}: invalid date {value!r} for {name!r} (YYYYMMDD)")
    elif name in ("object_time", "object_annotation_time"):
        if len(value.zfill(6)) != 6 or not _valid_moment(value.zfill(6), "%H%M%S"):
            report.error(f"line {line}: invalid time {value!r} for {name!r} (HHMMSS)")
    elif name == "object_annotation_status" and value not in ANNOTATION_STATUSES:
        report.error(f"line {line}: invalid annotation status {value!r} ({', '.join(ANNOTATION_STATUSES)})")


def check_ecotaxa_tsv(data: bytes, image_names: Collection[str] | None = None) -> EcotaxaImportReport:
    """Check one TSV by EcoTaxa's import rules.

    Parameters
    ----------
    data : bytes
        The file as stored in the archive.
    image_names : collection of str, optional
        The archive's other file names: each line's ``img_file_name`` must be one of them.

    Returns
    -------
    EcotaxaImportReport
        ``ok`` when EcoTaxa would accept the file.
    """
    report = EcotaxaImportReport()
    text = _decode(data, report)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quotechar='"')
    try:
        raw_header = next(reader)
        raw_types = next(reader)
    except StopIteration:
        report.error("the file needs a header line and a types line")
        return report
    columns = [name.strip(" \t").lower() for name in raw_header]
    report.columns = tuple(columns)
    report.types = {name: kind.strip() for name, kind in zip(columns, raw_types, strict=False)}
    if len(raw_types) != len(columns):
        report.error(f"the types line has {len(raw_types)} cells for {len(columns)} columns")
    _check_header(columns, report.types, report)
    keys: dict[str, int] = {}
    sample_of_acq: dict[str, str] = {}
    for line, cells in enumerate(reader, start=3):
        if not cells:
            continue
        report.rows += 1
        if len(cells) > len(columns):
            report.error(f"line {line}: values {cells[len(columns):]!r} are in a header-less column")
        values = {name: cells[i].strip() if i < len(cells) else "" for i, name in enumerate(columns)}
        for name, value in values.items():
            if value:
                _check_cell(line, name, value, report.types.get(name, ""), report)
        object_id, image = values.get("object_id", ""), values.get("img_file_name", "")
        if not object_id:
            report.error(f"line {line}: missing object_id")
        if not image:
            report.error(f"line {line}: missing img_file_name")
        elif image_names is not None and image not in image_names:
            report.error(f"line {line}: missing image {image!r} beside the TSV")
        key = f"{object_id}*{image}"
        if key in keys:
            report.error(
                f"line {line}: (object {object_id!r}, image {image!r}) is already on line {keys[key]}"
            )
        keys[key] = line
        status = values.get("object_annotation_status", "")
        category = values.get("object_annotation_category", "") or values.get(
            "object_annotation_category_id", ""
        )
        if status and not category:
            report.error(f"line {line}: annotation status {status!r} is given without a category")
        if category and not status:
            report.error(f"line {line}: category {category!r} is given without a status")
        sample, acq = values.get("sample_id", ""), values.get("acq_id", "")
        if sample and acq:
            known = sample_of_acq.setdefault(acq, sample)
            if known != sample:
                report.error(f"line {line}: acquisition {acq!r} is in samples {known!r} and {sample!r}")
    return report
