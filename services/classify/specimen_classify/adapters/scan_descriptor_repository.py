"""Scan descriptors over a SQLAlchemy session (flushes, never commits).

The rows live in ``scan_descriptors`` (SQLite or PostgreSQL), joined to ``scans`` for the
hospital: a search loads the rows of the scans the caller may see and nothing else (the scope
is a condition of the query that reads them), and ranks them exactly in memory. No cache: a
hospital holds thousands of scans (48 floats each), read in one indexed query, and a cache
keyed by the descriptor rows would miss a scan moved to another hospital.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from specimen_classify.adapters.tables import ScanDescriptorRow, ScanRow
from specimen_classify.domain.scan_search import ScanVectors

_VECTOR_DTYPE = np.dtype("<f4")


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

    def load_scope(self, scope: str | None, hospital: str | None, version: str,
                   dimensions: int) -> ScanVectors:
        """The rows of ``version`` of the scans of hospital ``scope`` (None: every hospital),
        narrowed to ``hospital`` when given; the join makes the scope part of the query."""
        query = (select(ScanDescriptorRow.scan_id, ScanDescriptorRow.vector)
                 .join(ScanRow, ScanRow.id == ScanDescriptorRow.scan_id)
                 .where(ScanDescriptorRow.descriptor_set_version == version)
                 .order_by(ScanDescriptorRow.scan_id, ScanDescriptorRow.region))
        if scope is not None:
            query = query.where(ScanRow.hospital == scope)
        if hospital is not None:
            query = query.where(ScanRow.hospital == hospital)
        rows = self._session.execute(query).all()
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
