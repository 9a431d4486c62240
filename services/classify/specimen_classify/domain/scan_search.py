"""``POST /scans/search``: the scans most like a query, among those the caller may see.

Rules:

- **The query** is exactly one of: an uploaded image (read as the classifier reads a slice,
  then described as a filed scan is: :func:`~specimen_classify.domain.search_vectors.describe_slice`);
  a ``scan_id`` the caller may see (its stored descriptor; the scan is left out of the answer;
  another hospital's id is the scan's 404); a ``descriptor`` with its
  ``descriptor_set_version`` (what segment's ``POST /images/search`` sends for ``sources=scans``).
  A version other than the stored rows' is a 422: vectors of two versions are never compared.
- **Scoped inside the query.** The candidates are read by a query whose condition is the
  caller's hospital (an admin: every hospital), narrowed by ``hospital`` when given (an admin's
  filter; anyone else naming another hospital gets an empty answer, as the listing does).
  Another hospital's scan is never ranked, so it cannot appear even as the exact nearest. A
  hospital's rows are kept in process between searches while their stamp is unchanged (a scan
  filed, deleted, described or moved changes it).
- **Exact.** Every candidate's inner product (the cosine of unit vectors), best first, ties by
  id; ``candidates`` says how many scans were ranked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from specimen_classify.domain.errors import ScanNotDescribed
from specimen_classify.domain.scans import Caller, ImageReader, Scan, ScanRecords, visible_hospital
from specimen_classify.domain.search_vectors import (
    DIMENSIONS,
    SCAN_DESCRIPTOR_SET_VERSION,
    describe_slice,
    query_descriptor,
    rank_grouped,
)
from specimen_kit.errors import InvalidParameter
from specimen_kit.hospitals import hospital_slug


@dataclass(frozen=True)
class ScanVectors:
    """Rows of one version: ``scan_ids`` (n,) the scan of each row, ``vectors`` (n, d)."""

    scan_ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]

    @classmethod
    def empty(cls, dimensions: int) -> ScanVectors:
        return cls(np.zeros(0, np.int64), np.zeros((0, dimensions), np.float32))


class ScanDescriptorRows(Protocol):
    """Scan descriptor rows (reads only here)."""

    def vector_of(self, scan_id: int, version: str) -> npt.NDArray[np.float32] | None: ...


class ScanIndex(Protocol):
    """The rows of ``version`` of hospital ``hospital``'s scans (None: every hospital), read by
    a query whose condition is the hospital, or kept since while unchanged (see ``adapters``)."""

    def vectors(self, hospital: str | None, version: str, dimensions: int,
                rows: Any) -> ScanVectors: ...


@dataclass(frozen=True)
class ScanQuery:
    """Exactly one of ``upload`` (bytes), ``scan_id`` and ``descriptor``; ``hospital`` narrows."""

    limit: int
    upload: bytes | None = None
    scan_id: int | None = None
    descriptor: tuple[float, ...] | None = None
    descriptor_set_version: str | None = None
    hospital: str | None = None


@dataclass(frozen=True)
class ScanHit:
    scan: Scan
    similarity: float


@dataclass(frozen=True)
class ScanSearchAnswer:
    hits: list[ScanHit]
    descriptor_set_version: str
    candidates: int
    """How many scans in scope were ranked."""


class ScanSearch:
    """The search over the scans a caller may see (the rules above)."""

    def __init__(self, scans: ScanRecords, rows: ScanDescriptorRows, index: ScanIndex, *,
                 read_image: ImageReader, max_limit: int) -> None:
        self._scans = scans
        self._rows = rows
        self._index = index
        self._read_image = read_image
        self._max_limit = max_limit

    def search(self, caller: Caller, query: ScanQuery) -> ScanSearchAnswer:
        if not 1 <= query.limit <= self._max_limit:
            raise InvalidParameter(f"limit={query.limit} is out of range; use 1 to {self._max_limit}")
        given = [name for name, value in (("image", query.upload), ("scan_id", query.scan_id),
                                          ("descriptor", query.descriptor)) if value is not None]
        if len(given) != 1:
            raise InvalidParameter(
                f"search by one thing, not {' and '.join(given)}" if given else
                "nothing to search by: send an image (field 'image'), a scan_id, or a "
                "descriptor with its descriptor_set_version")
        if query.descriptor is None and query.descriptor_set_version not in (
                None, SCAN_DESCRIPTOR_SET_VERSION):
            raise InvalidParameter(f"descriptor_set_version {query.descriptor_set_version!r}: "
                                   f"scans are described with set {SCAN_DESCRIPTOR_SET_VERSION!r}")
        vector = self._vector(caller, query)
        scope = visible_hospital(caller)
        hospital = None if query.hospital is None else hospital_slug(query.hospital)
        if scope is not None and hospital is not None and hospital != scope:
            return ScanSearchAnswer([], SCAN_DESCRIPTOR_SET_VERSION, 0)
        within = hospital if hospital is not None else scope  # the same when both are given
        rows = self._index.vectors(within, SCAN_DESCRIPTOR_SET_VERSION, DIMENSIONS, self._rows)
        ranked = np.unique(rows.scan_ids)
        candidates = int(ranked.size) - int(query.scan_id is not None and query.scan_id in ranked)
        hits = []
        for scan_id, score in rank_grouped(vector, rows.scan_ids, rows.vectors, query.limit,
                                           exclude=query.scan_id):
            scan = self._scans.find(caller, scan_id)
            if scan is not None:  # None: deleted (or moved) since the rows were read
                hits.append(ScanHit(scan, score))
        return ScanSearchAnswer(hits, SCAN_DESCRIPTOR_SET_VERSION, candidates)

    def _vector(self, caller: Caller, query: ScanQuery) -> npt.NDArray[np.float32]:
        if query.descriptor is not None:
            return query_descriptor(query.descriptor, query.descriptor_set_version)
        if query.scan_id is not None:
            scan = self._scans.get(caller, query.scan_id)
            vector = self._rows.vector_of(scan.id, SCAN_DESCRIPTOR_SET_VERSION)
            if vector is None:
                raise ScanNotDescribed(scan.id)
            return vector
        assert query.upload is not None
        described: npt.NDArray[np.float32] = describe_slice(self._read_image(query.upload))[0]
        return described
