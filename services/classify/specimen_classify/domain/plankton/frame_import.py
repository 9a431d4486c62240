"""Frames arriving in bulk: many image files, ZIP archives of them, and their metadata table.

Pure rules over file objects (the API hands in its spooled uploads), so that an upload is
judged before anything is stored:

- **Archives.** A ZIP is read from its (seekable) file, never into memory whole. The archive
  is refused entirely (:class:`~specimen_classify.domain.errors.ArchiveRefused`, nothing
  imported) when it is not a readable ZIP, holds more than ``max_members`` files, or declares
  more than ``max_total_bytes`` uncompressed (which bounds the whole's inflation too).
  Otherwise each member is judged alone and a bad one is *rejected* with its reason while
  the others are imported: a name that is absolute, climbs out (``..``) or has control
  characters; more than ``max_member_bytes``; a compression
  ratio over ``max_ratio`` (a zip bomb); a member that inflates beyond its declared size; an
  encrypted one. Directories and macOS/Windows clutter (``__MACOSX/``, ``.DS_Store``,
  ``Thumbs.db``) are skipped silently.
- **Names.** A frame is named by its file's base name (EcoTaxa's ``img_file_name``), unique
  in the project: a second file of the same name, in the upload or already in the project, is
  rejected (``duplicate``).
- **Metadata** comes from form fields (applied to every frame of the request) and from a CSV or
  TSV table (a ``metadata`` part, or a ``.csv`` / ``.tsv`` member of an archive), one row per
  file: ``file_name`` (or ``img_file_name``), ``sample_id``, ``acq_id``, ``lat`` / ``latitude``,
  ``lon`` / ``longitude``, ``date`` (``YYYY-MM-DD`` or EcoTaxa's ``YYYYMMDD``) and ``time``
  (``HH:MM[:SS]`` or ``HHMMSS``) or ``datetime`` (ISO 8601, UTC when no offset), ``depth_min``,
  ``depth_max``. A row's values win over the form's. A row naming a file that is not in the
  upload is reported (``unmatched``); a bad value rejects that row's frame with the reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import IO, Any

from specimen_classify.domain.errors import ArchiveRefused, InvalidFrameMetadata
from specimen_classify.domain.plankton.projects import FrameMetadata

MAX_FILE_NAME_CHARS = 255
MAX_ID_CHARS = 100
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_CLUTTER = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$|\._)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
METADATA_SUFFIXES = (".csv", ".tsv")
_COLUMN_ALIASES = {
    "file_name": "file_name", "img_file_name": "file_name", "file": "file_name",
    "filename": "file_name", "sample_id": "sample_id", "acq_id": "acq_id",
    "lat": "latitude", "latitude": "latitude", "object_lat": "latitude",
    "lon": "longitude", "longitude": "longitude", "object_lon": "longitude",
    "date": "date", "object_date": "date", "time": "time", "object_time": "time",
    "datetime": "datetime", "taken_at": "datetime",
    "depth_min": "depth_min", "object_depth_min": "depth_min",
    "depth_max": "depth_max", "object_depth_max": "depth_max",
}


@dataclass(frozen=True)
class ImportLimits:
    """Bounds of one upload (settings ``SPECIMEN_CLASSIFY_FRAMES_*``)."""

    max_files: int = 1000
    max_members: int = 5000
    max_total_bytes: int = 4 * 1024**3
    max_member_bytes: int = 256 * 1024**2
    max_ratio: float = 100.0
    max_metadata_bytes: int = 16 * 1024**2


@dataclass(frozen=True)
class Rejected:
    """A file of the upload that was not imported, and why."""

    file_name: str
    source: str | None
    reason: str


@dataclass(frozen=True)
class Candidate:
    """A file that may become a frame: its base name, where it came from, how to read it."""

    file_name: str
    source: str | None
    archive: zipfile.ZipFile | None = None
    member: zipfile.ZipInfo | None = None
    stream: IO[bytes] | None = None

    def read(self, max_bytes: int) -> bytes:
        """The file's bytes (at most ``max_bytes``); :class:`ValueError` when there are more,
        or when an archive member inflates past its declared size."""
        if self.stream is not None:
            self.stream.seek(0)
            data = self.stream.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise ValueError(f"more than the limit of {max_bytes} bytes")
            return data
        assert self.archive is not None and self.member is not None
        try:
            with self.archive.open(self.member) as stream:
                data = stream.read(min(self.member.file_size, max_bytes) + 1)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError) as error:
            # A bad CRC, a stream that ends early, an unknown compression method: the member
            # is rejected with the reason, never a 500.
            raise ValueError(f"the archive member is corrupt or unreadable ({error})") from error
        if len(data) > self.member.file_size:
            raise ValueError("it inflates beyond the size its archive declares (corrupt or "
                             "forged)")
        return data


@dataclass
class Upload:
    """What one request brought, sorted: candidate frames, rejected files, metadata tables."""

    candidates: list[Candidate] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    tables: list[tuple[str, bytes]] = field(default_factory=list)


def is_zip(head: bytes) -> bool:
    return head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC))


def safe_member_name(name: str) -> str | None:
    """The base name of a safe member path, None when the path is unsafe.

    >>> safe_member_name("cruise/frames/f001.png")
    'f001.png'
    >>> safe_member_name("../etc/passwd") is None, safe_member_name("/abs.png") is None
    (True, True)
    """
    if not name or _CONTROL.search(name) or "\\" in name or name.startswith("/"):
        return None
    if re.match(r"^[A-Za-z]:", name):
        return None
    parts = name.split("/")
    if any(part in ("..", ".") for part in parts):
        return None
    base = parts[-1]
    if not base or len(base) > MAX_FILE_NAME_CHARS:
        return None
    return base


_EXTENSIONS = ((b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpg"), (b"II*\x00", "tif"),
               (b"MM\x00*", "tif"), (b"BM", "bmp"), (b"GIF8", "gif"), (b"RIFF", "webp"),
               (ZIP_MAGIC, "zip"))


def content_name(data: bytes, sha256: str | None = None) -> str:
    """The name of a frame sent without one: a SHA-256 prefix of its bytes and the extension
    of its format (the same bytes always get the same name, so a re-sent frame is a duplicate).
    A body streamed to disk passes its first bytes as ``data`` and the digest it computed.

    >>> content_name(b"GIF89a...")
    '76b9a065d4540941.gif'
    >>> content_name(b"GIF89a", hashlib.sha256(b"GIF89a...").hexdigest())
    '76b9a065d4540941.gif'
    """
    extension = next((ext for magic, ext in _EXTENSIONS if data.startswith(magic)), "bin")
    return f"{(sha256 or hashlib.sha256(data).hexdigest())[:16]}.{extension}"


def file_name_problem(name: str | None) -> str | None:
    """Why a plain upload's file name cannot name a frame; None when it can."""
    if not name:
        return "the file part has no file name; give each image part a filename"
    if safe_member_name(name) != name:
        return ("the file name must be a plain base name (no directories, '..', backslashes or "
                f"control characters) of at most {MAX_FILE_NAME_CHARS} characters")
    return None


def add_archive(upload: Upload, source: str, file: IO[bytes], limits: ImportLimits) -> zipfile.ZipFile:
    """Sort the members of the ZIP ``file`` into ``upload``; returns the open archive (the
    candidates read from it later). Raises :class:`ArchiveRefused` for the whole archive."""
    try:
        archive = zipfile.ZipFile(file)
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as error:
        raise ArchiveRefused(source, f"it is not a readable ZIP archive ({error})") from error
    files = [member for member in members if not member.is_dir()]
    if len(files) > limits.max_members:
        raise ArchiveRefused(source, f"it holds {len(files)} files, more than the limit of "
                                     f"{limits.max_members}; split it")
    declared = sum(member.file_size for member in files)
    if declared > limits.max_total_bytes:
        raise ArchiveRefused(source, f"it declares {declared} bytes uncompressed, more than the "
                                     f"limit of {limits.max_total_bytes}; split it")
    for member in files:
        if _CLUTTER.search(member.filename):
            continue
        base = safe_member_name(member.filename)
        if base is None:
            upload.rejected.append(Rejected(member.filename, source,
                                            "unsafe path in the archive (absolute, '..', "
                                            "backslashes or control characters)"))
            continue
        reason = _member_problem(member, limits)
        if reason is not None:
            upload.rejected.append(Rejected(base, source, reason))
            continue
        if base.lower().endswith(METADATA_SUFFIXES):
            try:
                upload.tables.append((base, Candidate(base, source, archive, member).read(
                    limits.max_metadata_bytes)))
            except (ValueError, zipfile.BadZipFile, OSError, EOFError) as error:
                upload.rejected.append(Rejected(base, source, f"unreadable: {error}"))
            continue
        upload.candidates.append(Candidate(base, source, archive, member))
    return archive


def _member_problem(member: zipfile.ZipInfo, limits: ImportLimits) -> str | None:
    if member.flag_bits & 0x1:
        return "the member is encrypted; archives with passwords are not read"
    limit = limits.max_metadata_bytes if member.filename.lower().endswith(
        METADATA_SUFFIXES) else limits.max_member_bytes
    if member.file_size > limit:
        return f"{member.file_size} bytes uncompressed, more than the limit of {limit}"
    if member.file_size > 0 and member.compress_size == 0:
        return "it inflates from nothing (a zip bomb?)"
    if member.compress_size and member.file_size / member.compress_size > limits.max_ratio:
        return (f"it inflates {member.file_size / member.compress_size:.0f}-fold, more than "
                f"the limit of {limits.max_ratio:g} (a zip bomb?)")
    return None


# --- metadata ------------------------------------------------------------------------------------


def _text(value: str | None, column: str) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_ID_CHARS or _CONTROL.search(value):
        raise InvalidFrameMetadata(column, f"{column} must be at most {MAX_ID_CHARS} characters "
                                           "without control characters")
    return value


def _number(value: str | None, column: str, low: float, high: float) -> float | None:
    if value is None or not str(value).strip():
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        raise InvalidFrameMetadata(column, f"{column}={value!r} is not a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidFrameMetadata(column, f"{column}={value!r} is out of range {low:g} … {high:g}")
    return number


def _date(value: str) -> date:
    text = value.strip()
    for layout in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text, layout).date()
        except ValueError:
            continue
    raise InvalidFrameMetadata("date", f"date={value!r} is not YYYY-MM-DD or YYYYMMDD")


def _time(value: str) -> time:
    text = value.strip()
    for layout in ("%H:%M:%S", "%H:%M", "%H%M%S", "%H%M"):
        try:
            return datetime.strptime(text, layout).time()
        except ValueError:
            continue
    raise InvalidFrameMetadata("time", f"time={value!r} is not HH:MM[:SS] or HHMMSS")


def _taken_at(values: Mapping[str, str | None]) -> datetime | None:
    moment = values.get("datetime")
    if moment is not None and moment.strip():
        try:
            parsed = datetime.fromisoformat(moment.strip().replace("Z", "+00:00"))
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (ValueError, OverflowError):  # not ISO 8601, or out of range once in UTC
            raise InvalidFrameMetadata("datetime", f"datetime={moment!r} is not an ISO 8601 "
                                                   "time within years 1 … 9999 UTC") from None
    day, clock = values.get("date"), values.get("time")
    if day is None or not day.strip():
        if clock is not None and clock.strip():
            raise InvalidFrameMetadata("time", "time needs a date beside it")
        return None
    at = _time(clock) if clock is not None and clock.strip() else time(0, 0)
    return datetime.combine(_date(day), at, tzinfo=UTC)


def metadata_of(values: Mapping[str, str | None],
                base: FrameMetadata | None = None) -> FrameMetadata:
    """Metadata from a row (canonical column names), the given ones over ``base``'s."""
    found: dict[str, Any] = {}
    for column in ("sample_id", "acq_id"):
        if column in values:
            found[column] = _text(values[column], column)
    for column, low, high in (("latitude", -90.0, 90.0), ("longitude", -180.0, 180.0),
                              ("depth_min", -20_000.0, 20_000.0),
                              ("depth_max", -20_000.0, 20_000.0)):
        if column in values:
            found[column] = _number(values[column], column, low, high)
    if any(column in values for column in ("datetime", "date", "time")):
        found["taken_at"] = _taken_at(values)
    merged = replace(base or FrameMetadata(),
                     **{key: value for key, value in found.items() if value is not None})
    if (merged.depth_min is not None and merged.depth_max is not None
            and merged.depth_min > merged.depth_max):
        raise InvalidFrameMetadata("depth_min", f"depth_min={merged.depth_min:g} is deeper "
                                                f"than depth_max={merged.depth_max:g}")
    return merged


@dataclass(frozen=True)
class MetadataTable:
    """Rows by file name; rows that could not be read are ``problems`` (name → reason)."""

    rows: dict[str, dict[str, str | None]]
    problems: list[Rejected]


def read_metadata_table(name: str, data: bytes) -> MetadataTable:
    """A CSV or TSV (by the name's suffix, else sniffed) with a ``file_name`` column.

    Raises :class:`InvalidFrameMetadata` when the table itself is unusable (not UTF-8, no
    ``file_name`` column, unknown columns).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidFrameMetadata("metadata", f"{name} is not UTF-8 text") from None
    delimiter = "\t" if name.lower().endswith(".tsv") or (
        not name.lower().endswith(".csv") and "\t" in text.split("\n", 1)[0]) else ","
    try:
        return _read_rows(name, csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as error:  # a field past csv's size limit, a broken quote
        raise InvalidFrameMetadata("metadata", f"{name} is not a readable table: {error}") from None


def _read_rows(name: str, reader: Iterator[list[str]]) -> MetadataTable:
    header = next(reader, None)
    if header is None:
        raise InvalidFrameMetadata("metadata", f"{name} is empty; its first row names the columns")
    columns: list[str] = []
    for raw in header:
        key = raw.strip().lower()
        if key not in _COLUMN_ALIASES:
            raise InvalidFrameMetadata(
                "metadata", f"{name}: column {raw!r} is unknown; use file_name, sample_id, acq_id, "
                            "lat, lon, date, time (or datetime), depth_min, depth_max")
        columns.append(_COLUMN_ALIASES[key])
    if "file_name" not in columns:
        raise InvalidFrameMetadata("metadata", f"{name} has no file_name column")
    rows: dict[str, dict[str, str | None]] = {}
    problems: list[Rejected] = []
    for number, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if record and record[0].startswith("[") and number == 2:
            continue  # EcoTaxa's types row ([t] / [f])
        values: dict[str, str | None] = dict(zip(columns, (cell.strip() for cell in record),
                                                 strict=False))
        file_name = values.get("file_name") or ""
        if not file_name:
            problems.append(Rejected(f"{name} row {number}", None, "the row has no file_name"))
            continue
        if file_name in rows:
            problems.append(Rejected(file_name, name, f"row {number} repeats a file_name of the "
                                                      "metadata table; the first row is used"))
            continue
        rows[file_name] = values
    return MetadataTable(rows, problems)


def iter_names(upload: Upload) -> Iterator[str]:
    for candidate in upload.candidates:
        yield candidate.file_name
