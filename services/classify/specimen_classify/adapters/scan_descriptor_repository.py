"""Scan descriptors over a SQLAlchemy session (flushes, never commits), and the in-process cache.

The rows live in ``scan_descriptors`` (SQLite or PostgreSQL), joined to ``scans`` for the
hospital: a search reads the rows of the scans the caller may see and nothing else (the scope
is a condition of the query that reads them), and ranks them exactly in memory.
:class:`ScanVectorCache` keeps recently searched hospitals' matrices between requests
(:class:`specimen_kit.stamped_cache.StampedCache`, as segment's owners and the plankton
projects) while the hospital's ``(row count, largest id)`` stamp, read by the same join, is
unchanged. The stamp holds because a row never enters a hospital's scope with an old id:
rows are only inserted (``put``: filing, import, backfill; new, never reused ids) and deleted
(``put``'s replacement; a deleted scan's rows leave the join, and go by cascade), never
updated, and a scan moved to
another hospital gets its rows anew (:func:`refile_scan_descriptors`, called by the scan
repository's ``save``), so the hospital it joins sees a larger id and the one it left a
smaller count.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from specimen_classify.adapters.tables import ScanDescriptorRow, ScanRow
from specimen_classify.domain.scan_search import ScanVectors
from specimen_kit.stamped_cache import StampedCache

_VECTOR_DTYPE = np.dtype("<f4")


def _in_hospital(hospital: str | None, version: str) -> list[ColumnElement[bool]]:
    """The conditions of a scope's rows, on ``scan_descriptors`` joined to ``scans``."""
    conditions = [ScanDescriptorRow.descriptor_set_version == version]
    return conditions if hospital is None else [*conditions, ScanRow.hospital == hospital]


class SqlScanDescriptorRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def put(self, scan_id: int, version: str, rows: npt.NDArray[np.float32]) -> None:
        """Store a scan's rows of ``version`` (row ``i`` is region ``i``), replacing its old ones."""
        self._session.execute(delete(ScanDescriptorRow).where(
            ScanDescriptorRow.scan_id == scan_id,
            ScanDescriptorRow.descriptor_set_version == version))
        self._session.add_all(
            ScanDescriptorRow(scan_id=scan_id, region=region, descriptor_set_version=version,
                              vector=np.asarray(row, _VECTOR_DTYPE).tobytes())
            for region, row in enumerate(np.atleast_2d(rows)))
        self._session.flush()

    def vector_of(self, scan_id: int, version: str) -> npt.NDArray[np.float32] | None:
        """The scan's whole-slice row (region 0) of ``version``, or None."""
        data = self._session.scalar(select(ScanDescriptorRow.vector).where(
            ScanDescriptorRow.scan_id == scan_id, ScanDescriptorRow.region == 0,
            ScanDescriptorRow.descriptor_set_version == version))
        return None if data is None else np.frombuffer(data, _VECTOR_DTYPE).astype(np.float32)

    def scope_stamp(self, hospital: str | None, version: str) -> tuple[int, int]:
        """``(row count, largest row id)`` of the rows of ``version`` of hospital ``hospital``'s
        scans (None: every hospital): changes whenever they change (the module's rule)."""
        count, largest = self._session.execute(
            select(func.count(ScanDescriptorRow.id),
                   func.coalesce(func.max(ScanDescriptorRow.id), 0))
            .join(ScanRow, ScanRow.id == ScanDescriptorRow.scan_id)
            .where(*_in_hospital(hospital, version))).one()
        return int(count), int(largest)

    def load_scope(self, hospital: str | None, version: str, dimensions: int) -> ScanVectors:
        """The rows of ``version`` of the scans of hospital ``hospital`` (None: every hospital);
        the join makes the hospital part of the query."""
        rows = self._session.execute(
            select(ScanDescriptorRow.scan_id, ScanDescriptorRow.vector)
            .join(ScanRow, ScanRow.id == ScanDescriptorRow.scan_id)
            .where(*_in_hospital(hospital, version))
            .order_by(ScanDescriptorRow.scan_id, ScanDescriptorRow.region)).all()
        if not rows:
            return ScanVectors.empty(dimensions)
        ids = np.fromiter((row[0] for row in rows), np.int64, len(rows))
        vectors = np.frombuffer(b"".join(row[1] for row in rows), _VECTOR_DTYPE)
        return ScanVectors(ids, vectors.reshape(len(rows), dimensions).astype(np.float32))

    def undescribed(self, version: str) -> Iterator[int]:
        """Ids of the scans without a row of ``version``, in id order (the backfill's work)."""
        described = select(ScanDescriptorRow.id).where(
            ScanDescriptorRow.scan_id == ScanRow.id,
            ScanDescriptorRow.descriptor_set_version == version).exists()
        yield from self._session.scalars(select(ScanRow.id).where(~described).order_by(ScanRow.id))


def refile_scan_descriptors(session: Session, scan_id: int) -> None:
    """Give the scan's rows new ids (the same values): what moving a scan to another hospital
    does, so that hospitals' stamps move (the module's rule). Flushes."""
    rows = session.execute(select(ScanDescriptorRow.region, ScanDescriptorRow.descriptor_set_version,
                                  ScanDescriptorRow.vector)
                           .where(ScanDescriptorRow.scan_id == scan_id)
                           .order_by(ScanDescriptorRow.id)).all()
    session.execute(delete(ScanDescriptorRow).where(ScanDescriptorRow.scan_id == scan_id))
    session.add_all(ScanDescriptorRow(scan_id=scan_id, region=region, descriptor_set_version=version,
                                      vector=vector) for region, version, vector in rows)
    session.flush()


class ScanVectorCache:
    """The :class:`~specimen_classify.domain.scan_search.ScanIndex` of the app: hospitals'
    matrices (and every hospital's, an admin's), at most ``max_vectors`` rows in all, the least
    recently searched going first; an entry is used only while its stamp is unchanged.
    Thread-safe."""

    def __init__(self, max_vectors: int) -> None:
        self._hospitals: StampedCache[tuple[str | None, str], ScanVectors] = StampedCache(
            max_vectors, rows_of=lambda scope: scope.vectors.shape[0])

    @property
    def loads(self) -> int:
        """How many times a hospital's rows were read from the database (tests watch it)."""
        return self._hospitals.loads

    def vectors(self, hospital: str | None, version: str, dimensions: int,
                rows: SqlScanDescriptorRepository) -> ScanVectors:
        return self._hospitals.get((hospital, version), rows.scope_stamp(hospital, version),
                                   partial(rows.load_scope, hospital, version, dimensions))

    def __len__(self) -> int:
        return len(self._hospitals)
