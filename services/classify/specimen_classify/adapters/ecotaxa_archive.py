"""The EcoTaxa archive: ``ecotaxa_<project>.tsv`` and every crop PNG beside it, in one ZIP.

Written in one pass over the rows with bounded memory: each crop goes into the ZIP as it is
read (stored, PNG is compressed already); the TSV lines go to a temporary file meanwhile, since
the byte-order mark the TSV needs (when any text is non-ASCII) is known only at the end; the
TSV is then copied into the ZIP in chunks, BOM first if needed. The ZIP itself is written to a
file (a temporary file the caller then hands to the blob store, or any seekable binary file).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

from specimen_classify.domain.plankton.ecotaxa import (
    BOM,
    EcotaxaLayout,
    EcotaxaRow,
    EcotaxaTsvWriter,
    image_name,
)

_CHUNK = 1 << 20
TSV_COMPRESS_LEVEL = 1
"""zlib level of the TSV: on a TSV of measurements (343 rows, 543 kB) level 6, zlib's default,
took 31 ms of CPU for 227 kB and level 1 6 ms for 248 kB (the crops, PNG already, are stored)."""


@dataclass(frozen=True)
class ArchiveSummary:
    """What went into the archive."""

    tsv_name: str
    objects: int
    images: int
    bom: bool


def tsv_name_of(project_name: str, project_id: int) -> str:
    """``ecotaxa_<project>.tsv``: the project's name in ``[A-Za-z0-9_-]``, else its id.

    >>> tsv_name_of("Cruise 42 / été", 3)
    'ecotaxa_cruise_42_t.tsv'
    >>> tsv_name_of("€€", 3)
    'ecotaxa_project_3.tsv'
    """
    cleaned = re.sub(r"[^a-z0-9_-]+", "_", project_name.lower()).strip("_-")[:80]
    return f"ecotaxa_{cleaned or f'project_{project_id}'}.tsv"


def write_ecotaxa_zip(
    target: IO[bytes],
    rows: Iterable[EcotaxaRow],
    layout: EcotaxaLayout,
    crop_of: Callable[[EcotaxaRow], bytes],
    *,
    tsv_name: str | None = None,
    spool_dir: str | None = None,
) -> ArchiveSummary:
    """Write the EcoTaxa ZIP of ``rows`` to ``target``.

    Parameters
    ----------
    target : binary file
        Open for writing (a temporary file); left open.
    rows : iterable of EcotaxaRow
        Read once.
    layout : EcotaxaLayout
    crop_of : callable
        The crop PNG of a row (from the blob store).
    tsv_name : str, optional
        Default :func:`tsv_name_of` the project.
    spool_dir : str, optional
        Where the TSV's temporary file goes (default the system's).

    Raises
    ------
    EcotaxaRowInvalid
        From the TSV writer (repeated key, invalid status); the archive is then incomplete and
        the caller discards it.
    """
    name = tsv_name or tsv_name_of(layout.project.name, layout.project.id)
    writer = EcotaxaTsvWriter(layout)
    images = 0
    with (
        tempfile.TemporaryFile(dir=spool_dir) as lines,
        zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive,
    ):
        lines.write(writer.head())
        for row in rows:
            lines.write(writer.line(row))
            archive.writestr(
                zipfile.ZipInfo(image_name(row), date_time=(1980, 1, 1, 0, 0, 0)),
                crop_of(row),
                compress_type=zipfile.ZIP_STORED,
            )
            images += 1
        lines.seek(0)
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        # ZipFile(compresslevel=) is not applied to a ZipInfo of ours; Python 3.11 has no public
        # name for it (3.13's ``compress_level`` keeps this one as its alias).
        setattr(info, "_compresslevel", TSV_COMPRESS_LEVEL)  # noqa: B010
        with archive.open(info, "w", force_zip64=True) as entry:
            if writer.non_ascii:
                entry.write(BOM)
            shutil.copyfileobj(lines, entry, _CHUNK)
    return ArchiveSummary(tsv_name=name, objects=writer.rows, images=images, bom=writer.non_ascii)


def write_plain_csv(target: IO[bytes], chunks: Iterable[bytes]) -> int:
    """Copy the CSV's chunks to ``target``; returns the bytes written."""
    written = 0
    for chunk in chunks:
        target.write(chunk)
        written += len(chunk)
    return written
