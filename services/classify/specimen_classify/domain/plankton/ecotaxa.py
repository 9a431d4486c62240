"""EcoTaxa's import table: a project's objects as the TSV EcoTaxa reads, written row by row.

The rules, as EcoTaxa's importer applies them (``ecotaxa_back``'s ``TSVFile``):

* the first line names the columns, ``<table>_<field>`` with the table one of ``object``,
  ``sample``, ``acq``, ``process``, ``img``; the second line gives each column's type, ``[f]``
  (a number) or ``[t]`` (text); then one line per object image;
* ``object_id`` and ``img_file_name`` (the image's path beside the TSV) are on every line and the
  pair is unique in the file;
* ``object_annotation_status`` is ``predicted``, ``validated`` or ``dubious``; a status needs a
  ``object_annotation_category`` and a category needs a status;
* an acquisition belongs to one sample;
* ``object_date`` is ``YYYYMMDD``, ``object_time`` ``HHMMSS`` (so are the annotation's);
  ``object_lat`` in [-90, 90], ``object_lon`` in [-180, 180];
* the file is read as latin-1 unless it starts with a UTF-8 byte-order mark, so a file with any
  non-ASCII character must carry the BOM.

Specimen's own limits on top: column names are lower case ``[a-z0-9_]`` of at most
:data:`MAX_COLUMN_NAME` characters (EcoTaxa keeps them as its free columns' names), and values
carry no tab, newline or carriage return (they are replaced by a space): a value can never
shift a column or start a line.

Memory stays constant: :func:`ecotaxa_tsv` turns an iterable of :class:`EcotaxaRow` into an
iterator of byte chunks, one per line; the caller decides the BOM before the first byte
(:func:`needs_bom`, or the archive writer's temporary file, which learns it while writing).

>>> layout = EcotaxaLayout(project=EcotaxaProject(id=1, name="cruise"), feature_names=("area",))
>>> layout.columns[:3]
('img_file_name', 'img_rank', 'object_id')
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from specimen_classify.domain.errors import ClassifyError
from specimen_kit.timestamps import as_utc

MAX_COLUMN_NAME = 250
"""Longest column name written (EcoTaxa's free-column names are stored in 250 characters)."""

ANNOTATION_STATUSES = ("predicted", "validated", "dubious")
"""EcoTaxa's annotation statuses (``classif_qual`` P, V, D): the only ones written or accepted."""

TABLE_PREFIXES = ("object", "sample", "acq", "process", "img")
"""The first part of every column name: the EcoTaxa table the value goes to."""

BOM = b"\xef\xbb\xbf"
"""UTF-8 byte-order mark: without it EcoTaxa decodes the file as latin-1."""

_COLUMN = re.compile(r"^(object|sample|acq|process|img)_[a-z0-9_]+$")
_NOT_LEGAL = re.compile(r"[^a-z0-9_]+")
_BREAKS = re.compile(r"[\t\r\n]")


class EcotaxaColumnInvalid(ClassifyError):
    """A column of the EcoTaxa export would be refused by EcoTaxa: too long, two measurements
    that map to the same name, or a name outside ``<table>_[a-z0-9_]+`` (422)."""

    status = 422
    title = "EcoTaxa column invalid"
    slug = "ecotaxa-column-invalid"


class EcotaxaRowInvalid(ClassifyError):
    """An object cannot be written as an EcoTaxa line: an unknown annotation status, run settings
    outside the file's columns, a key that is already in the file, or an acquisition already
    seen in another sample (422)."""

    status = 422
    title = "EcoTaxa row invalid"
    slug = "ecotaxa-row-invalid"


# What goes in ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EcotaxaProject:
    """Project metadata written on every line (as ``sample_project``, ``acq_instrument``, …)."""

    id: int
    name: str
    instrument: str | None = None
    pixel_size_um: float | None = None


@dataclass(frozen=True)
class EcotaxaRow:
    """One object, with its frame's metadata and the run that made it.

    ``settings`` are the run's validated pipeline settings (written flattened as ``process_*``
    columns); ``features`` the measurements by name (``object_<name>``, ``[f]``).
    """

    object_pk: int
    rank: int
    frame_file_name: str
    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]
    features: Mapping[str, float]
    feature_set_version: str
    category: str | None = None
    probability: float | None = None
    status: str | None = None
    annotated_by_name: str | None = None
    annotated_at: datetime | None = None
    sample_id: str | None = None
    acq_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    depth_min: float | None = None
    depth_max: float | None = None
    taken_at: datetime | None = None
    frame_width: int | None = None
    frame_height: int | None = None
    model_name: str | None = None
    model_version: str | None = None
    job_id: int | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


# Names --------------------------------------------------------------------------------------------


def column_name(table: str, name: str) -> str:
    """``<table>_<name>`` lower-cased, every run of other characters than ``[a-z0-9_]`` as ``_``.

    Raises
    ------
    EcotaxaColumnInvalid
        ``table`` is not an EcoTaxa table, the name is empty once cleaned, or longer than
        :data:`MAX_COLUMN_NAME`.

    Examples
    --------
    >>> column_name("object", "Hu moment 1")
    'object_hu_moment_1'
    """
    if table not in TABLE_PREFIXES:
        raise EcotaxaColumnInvalid(f"table {table!r} is not one of EcoTaxa's: {', '.join(TABLE_PREFIXES)}")
    cleaned = _NOT_LEGAL.sub("_", name.strip().lower()).strip("_")
    if not cleaned:
        raise EcotaxaColumnInvalid(f"the column name {name!r} has no letter or digit left for EcoTaxa")
    full = f"{table}_{cleaned}"
    if len(full) > MAX_COLUMN_NAME:
        raise EcotaxaColumnInvalid(
            f"column {full[:40]!r}… is {len(full)} characters long; EcoTaxa keeps at most "
            f"{MAX_COLUMN_NAME}: shorten the measurement or setting name",
            column=full[:MAX_COLUMN_NAME],
            length=len(full),
        )
    return full


def flatten_settings(settings: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested run settings as ``{"a_b": text}``: lists, booleans and numbers as their JSON.

    >>> flatten_settings({"threshold": {"method": "otsu", "value": None}, "fade": True})
    {'threshold_method': 'otsu', 'threshold_value': '', 'fade': 'true'}
    """
    flat: dict[str, str] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_settings(value, f"{name}_"))
        elif value is None:
            flat[name] = ""
        elif isinstance(value, str):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return flat


RESERVED_PROCESS_FIELDS = frozenset({"id", "model_name", "model_version", "feature_set_version"})
"""Setting names the fixed ``process_*`` columns already write from the object itself (a run's
``model_version`` setting is the version that made the object)."""


def process_fields(settings: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The sorted union of the runs' flattened setting names (the ``process_*`` columns), less
    :data:`RESERVED_PROCESS_FIELDS`.

    >>> process_fields([{"padding": 8, "model_version": 3}, {"threshold": {"method": "otsu"}}])
    ('padding', 'threshold_method')
    """
    names: set[str] = set()
    for one in settings:
        names.update(flatten_settings(one))
    return tuple(sorted(names - RESERVED_PROCESS_FIELDS))


# The layout: columns, decided before the first line --------------------------------------------

_FIXED: tuple[tuple[str, str], ...] = (
    ("img_file_name", "[t]"),
    ("img_rank", "[f]"),
    ("object_id", "[t]"),
    ("object_lat", "[f]"),
    ("object_lon", "[f]"),
    ("object_date", "[t]"),
    ("object_time", "[t]"),
    ("object_depth_min", "[f]"),
    ("object_depth_max", "[f]"),
    ("object_annotation_category", "[t]"),
    ("object_annotation_status", "[t]"),
    ("object_annotation_person_name", "[t]"),
    ("object_annotation_date", "[t]"),
    ("object_annotation_time", "[t]"),
    ("object_probability", "[f]"),
    ("object_frame_rank", "[f]"),
    ("object_bbox_min_row", "[f]"),
    ("object_bbox_min_col", "[f]"),
    ("object_bbox_max_row", "[f]"),
    ("object_bbox_max_col", "[f]"),
    ("object_centroid_row", "[f]"),
    ("object_centroid_col", "[f]"),
)
_PARENTS: tuple[tuple[str, str], ...] = (
    ("sample_id", "[t]"),
    ("sample_project", "[t]"),
    ("acq_id", "[t]"),
    ("acq_instrument", "[t]"),
    ("acq_pixel_size_um", "[f]"),
    ("acq_frame_file_name", "[t]"),
    ("acq_frame_width", "[f]"),
    ("acq_frame_height", "[f]"),
    ("process_id", "[t]"),
    ("process_model_name", "[t]"),
    ("process_model_version", "[t]"),
    ("process_feature_set_version", "[t]"),
)


@dataclass(frozen=True)
class EcotaxaLayout:
    """The file's columns: fixed ones, one ``object_<feature>`` per measurement, one
    ``process_<setting>`` per run setting.

    Parameters
    ----------
    project : EcotaxaProject
    feature_names : sequence of str
        The measurements, in order (the project's feature set).
    process_settings : sequence of str
        Flattened setting names (:func:`process_fields`) of the runs exported.

    Raises
    ------
    EcotaxaColumnInvalid
        A name too long, or two that are the same once cleaned.
    """

    project: EcotaxaProject
    feature_names: Sequence[str]
    process_settings: Sequence[str] = ()
    columns: tuple[str, ...] = field(init=False)
    types: tuple[str, ...] = field(init=False)
    feature_columns: tuple[str, ...] = field(init=False)
    process_columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        feature_columns = tuple(column_name("object", name) for name in self.feature_names)
        process_columns = tuple(column_name("process", name) for name in self.process_settings)
        pairs = [
            *_FIXED,
            *((name, "[f]") for name in feature_columns),
            *_PARENTS,
            *((name, "[t]") for name in process_columns),
        ]
        seen: dict[str, int] = {}
        for name, _ in pairs:
            seen[name] = seen.get(name, 0) + 1
        repeated = sorted(name for name, count in seen.items() if count > 1)
        if repeated:
            raise EcotaxaColumnInvalid(
                f"these columns would appear twice in the EcoTaxa file: {', '.join(repeated)}; "
                "measurement or setting names must differ once lower-cased to [a-z0-9_]",
                columns=repeated,
            )
        object.__setattr__(self, "feature_columns", feature_columns)
        object.__setattr__(self, "process_columns", process_columns)
        object.__setattr__(self, "columns", tuple(name for name, _ in pairs))
        object.__setattr__(self, "types", tuple(kind for _, kind in pairs))


# Values ------------------------------------------------------------------------------------------


def clean_text(value: str | None) -> str:
    """Text with every tab, carriage return and newline as one space, ends stripped.

    >>> clean_text("two\\tlines\\r\\nhere ")
    'two lines  here'
    """
    if value is None:
        return ""
    return _BREAKS.sub(" ", value).strip()


def number(value: float | int | None) -> str:
    """A number as EcoTaxa parses it; ``None``, NaN and infinities as an empty cell.

    >>> number(1.5), number(3), number(float("nan")), number(None)
    ('1.5', '3', '', '')
    >>> number(float("-inf")), number(-0.0), number(2.5e-300), number(True)
    ('', '-0.0', '2.5e-300', '1')
    """
    if type(value) is float:  # the measurements' case first: a finite float's x - x is 0
        return repr(value) if value - value == 0 else ""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    as_float = float(value)
    if not math.isfinite(as_float):
        return ""
    return repr(as_float)


def _numbers(values: list[Any]) -> Iterable[str]:
    """:func:`number` of each value; a row of finite floats (the measurements) in one pass.

    Their sum is finite only when every value is (NaN and infinities carry through a sum; a sum
    that overflows takes the value-by-value path, which gives the same cells).
    """
    if set(map(type, values)) == {float} and math.isfinite(sum(values)):
        return map(repr, values)
    return map(number, values)


def ecotaxa_date(moment: datetime | None) -> str:
    """``YYYYMMDD`` in UTC, empty when unknown."""
    return "" if moment is None else as_utc(moment).strftime("%Y%m%d")


def ecotaxa_time(moment: datetime | None) -> str:
    """``HHMMSS`` in UTC, empty when unknown."""
    return "" if moment is None else as_utc(moment).strftime("%H%M%S")


@functools.lru_cache(maxsize=1024)  # a frame's name, once for each of its objects' cells
def _stem(file_name: str) -> str:
    base = file_name.rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "frame"


def object_key(row: EcotaxaRow) -> str:
    """The line's ``object_id``: the frame's name, the object's rank, its id in Specimen.

    The id makes it unique even when two frames' names clean to the same text.

    >>> object_key(EcotaxaRow(object_pk=7, rank=2, frame_file_name="st 1.png", bbox=(0, 0, 1, 1),
    ...            centroid=(0.0, 0.0), features={}, feature_set_version="2"))
    'st_1_2_o7'
    """
    return f"{_stem(row.frame_file_name)}_{row.rank}_o{row.object_pk}"


def image_name(row: EcotaxaRow) -> str:
    """The crop's file name beside the TSV in the archive (``img_file_name``)."""
    return f"{object_key(row)}.png"


def process_key(row: EcotaxaRow) -> str:
    """``process_id``: the run that made the object (``run_<job id>``), or ``imported``."""
    return "imported" if row.job_id is None else f"run_{row.job_id}"


def _annotation(row: EcotaxaRow) -> tuple[str, str, str, str, str]:
    category = clean_text(row.category)
    status = clean_text(row.status)
    if status and status not in ANNOTATION_STATUSES:
        raise EcotaxaRowInvalid(
            f"object {row.object_pk} has annotation status {status!r}; EcoTaxa knows "
            f"{', '.join(ANNOTATION_STATUSES)}",
            object_id=row.object_pk,
        )
    if not category:
        # EcoTaxa refuses a status without a category: an object with no category is unannotated.
        return "", "", "", "", ""
    if not status:
        status = "predicted"
    human = status in ("validated", "dubious")
    return (
        category,
        status,
        clean_text(row.annotated_by_name) if human else "",
        ecotaxa_date(row.annotated_at) if human else "",
        ecotaxa_time(row.annotated_at) if human else "",
    )


def row_values(row: EcotaxaRow, layout: EcotaxaLayout) -> list[str]:
    """The cells of ``row`` in ``layout``'s column order, cleaned.

    Raises
    ------
    EcotaxaRowInvalid
        An unknown annotation status, or settings not declared in the layout.
    """
    category, status, person, annotated_date, annotated_time = _annotation(row)
    project = layout.project
    values = [
        image_name(row),
        "0",
        object_key(row),
        number(row.latitude),
        number(row.longitude),
        ecotaxa_date(row.taken_at),
        ecotaxa_time(row.taken_at),
        number(row.depth_min),
        number(row.depth_max),
        category,
        status,
        person,
        annotated_date,
        annotated_time,
        number(row.probability),
        number(row.rank),
        *(number(v) for v in row.bbox),
        *(number(v) for v in row.centroid),
    ]
    values.extend(_numbers(list(map(row.features.get, layout.feature_names))))
    values.extend(
        (
            clean_text(row.sample_id),
            clean_text(project.name),
            clean_text(row.acq_id) or _stem(row.frame_file_name),
            clean_text(project.instrument),
            number(project.pixel_size_um),
            clean_text(row.frame_file_name),
            number(row.frame_width),
            number(row.frame_height),
            process_key(row),
            clean_text(row.model_name),
            clean_text(row.model_version),
            clean_text(row.feature_set_version),
        )
    )
    flat = flatten_settings(row.settings)
    unknown = sorted(set(flat) - set(layout.process_settings) - RESERVED_PROCESS_FIELDS)
    if unknown:
        raise EcotaxaRowInvalid(
            f"object {row.object_pk}'s run settings {', '.join(unknown)} are not among the "
            "layout's process columns; build the layout from every exported run's settings",
            object_id=row.object_pk,
        )
    values.extend(clean_text(flat.get(name)) for name in layout.process_settings)
    return values


# Writing -----------------------------------------------------------------------------------------


def _line(cells: Sequence[str]) -> bytes:
    return ("\t".join(cells) + "\n").encode("utf-8")


def needs_bom(rows: Iterable[EcotaxaRow], layout: EcotaxaLayout) -> bool:
    """Whether any header or value of the file would be non-ASCII (then it needs the BOM)."""
    if not "".join((*layout.columns, layout.project.name, layout.project.instrument or "")).isascii():
        return True
    return any(not "".join(row_values(row, layout)).isascii() for row in rows)


class EcotaxaTsvWriter:
    """Lines of one EcoTaxa TSV, with the unique-key check; remembers whether it wrote any
    non-ASCII character (:attr:`non_ascii`), so that a writer to a temporary file learns the BOM
    it needs while writing.

    The keys already written are kept (two short strings per object: some MB per 100,000
    objects), since EcoTaxa refuses the whole file for one repeated pair.
    """

    def __init__(self, layout: EcotaxaLayout) -> None:
        self.layout = layout
        self.non_ascii = False
        self.rows = 0
        self._keys: set[str] = set()
        self._sample_of_acq: dict[str, str] = {}
        self._sample_column = layout.columns.index("sample_id")
        self._acq_column = layout.columns.index("acq_id")

    def _encoded(self, cells: Sequence[str]) -> bytes:
        data = _line(cells)
        if not self.non_ascii and not data.isascii():
            self.non_ascii = True
        return data

    def head(self) -> bytes:
        """The two first lines: names, then ``[t]``/``[f]`` types."""
        return self._encoded(self.layout.columns) + self._encoded(self.layout.types)

    def line(self, row: EcotaxaRow) -> bytes:
        """One object's line.

        Raises
        ------
        EcotaxaRowInvalid
            The (object_id, img_file_name) pair is already in the file, or the row is invalid.
        """
        values = row_values(row, self.layout)
        key = f"{values[2]}*{values[0]}"
        if key in self._keys:
            raise EcotaxaRowInvalid(
                f"object {values[2]!r} with image {values[0]!r} is already in the file; "
                "EcoTaxa refuses a repeated (object_id, img_file_name)",
                object_id=row.object_pk,
            )
        sample, acq = values[self._sample_column], values[self._acq_column]
        if sample and acq and self._sample_of_acq.setdefault(acq, sample) != sample:
            raise EcotaxaRowInvalid(
                f"acquisition {acq!r} is in samples {self._sample_of_acq[acq]!r} and {sample!r} (object "
                f"{row.object_pk}); EcoTaxa keeps an acquisition in one sample: fix the frames' metadata",
                object_id=row.object_pk,
            )
        self._keys.add(key)
        self.rows += 1
        return self._encoded(values)


def ecotaxa_tsv(rows: Iterable[EcotaxaRow], layout: EcotaxaLayout, *, bom: bool) -> Iterator[bytes]:
    """The EcoTaxa TSV of ``rows`` as byte chunks (the BOM if asked, the head, one per line).

    Parameters
    ----------
    rows : iterable of EcotaxaRow
        Read once, lazily.
    layout : EcotaxaLayout
    bom : bool
        Start with the UTF-8 byte-order mark. Must be true when any value is non-ASCII
        (:func:`needs_bom`); a line that is non-ASCII without it raises.

    Raises
    ------
    EcotaxaRowInvalid
        A repeated key, an invalid row, or non-ASCII text without ``bom``.
    """
    writer = EcotaxaTsvWriter(layout)
    if bom:
        yield BOM
    yield writer.head()
    for row in rows:
        data = writer.line(row)
        if writer.non_ascii and not bom:
            raise EcotaxaRowInvalid(
                f"object {row.object_pk} has non-ASCII text but the file was started without "
                "a byte-order mark; EcoTaxa would read it as latin-1: ask needs_bom() first",
                object_id=row.object_pk,
            )
        yield data


# The plain CSV ------------------------------------------------------------------------------------


def csv_columns(layout: EcotaxaLayout) -> tuple[str, ...]:
    """The CSV's header: the TSV's columns without the EcoTaxa table prefixes' type row."""
    return layout.columns


def _csv_cell(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def plain_csv(rows: Iterable[EcotaxaRow], layout: EcotaxaLayout) -> Iterator[bytes]:
    """The same rows as a comma-separated UTF-8 file (RFC 4180 quoting, no types row, no BOM)."""
    yield (",".join(_csv_cell(c) for c in csv_columns(layout)) + "\r\n").encode("utf-8")
    for row in rows:
        yield (",".join(_csv_cell(c) for c in row_values(row, layout)) + "\r\n").encode("utf-8")


# The export jobs' errors ------------------------------------------------------------------------


class ExportNotFound(ClassifyError):
    """No export job with this id is visible to the caller (404): also when it exists in a project
    the caller is no member of, so ids cannot be probed."""

    status = 404
    title = "Export not found"
    slug = "export-not-found"


class ExportNotReady(ClassifyError):
    """The export job has not written its file yet, or ended without one (409): poll
    ``GET /exports/{id}`` (or ``GET /jobs/{id}``) until its status is ``succeeded``."""

    status = 409
    title = "Export not ready"
    slug = "export-not-ready"
