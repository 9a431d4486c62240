"""Vectors of the similar-image search in classify (issue 14): scans' rows, queries, ranking.

A scan gets one row (``region`` 0): :func:`specimen_imaging.similarity.describe_working_copy`
of the slice as the classifier reads it (8-bit gray, a DICOM's window applied), repeated to
RGB. That is the descriptor set segment's library uses (:data:`SCAN_DESCRIPTOR_SET_VERSION`),
computed on the same working copy, so a library picture, a search's query and a scan compare
by one cosine: the same slice uploaded to the library and filed as a scan gives the same
vector. No region rows (segment proposes regions of a picture; a slice has one subject), so a
selection of a lesion is compared with whole slices.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from specimen_imaging import similarity
from specimen_kit.errors import InvalidParameter

SCAN_DESCRIPTOR_SET_VERSION = similarity.DESCRIPTOR_SET_VERSION
"""The descriptor set scans are described with: :mod:`specimen_imaging.similarity`'s."""
DIMENSIONS = similarity.DIMENSIONS


def describe_slice(gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The rows stored for a slice: ``(1, DIMENSIONS)``, row 0 the whole slice.

    Examples
    --------
    >>> gray = np.zeros((64, 64), np.uint8); gray[16:48, 16:48] = 180
    >>> describe_slice(gray).shape
    (1, 48)
    """
    return similarity.describe_working_copy(gray)[None, :]


def query_descriptor(values: tuple[float, ...] | list[float], version: str | None,
                     searched_version: str = SCAN_DESCRIPTOR_SET_VERSION) -> npt.NDArray[np.float32]:
    """A descriptor sent as the query (``descriptor`` + ``descriptor_set_version``) as a unit
    vector, or a 422 naming what is wrong: vectors of two versions are never compared.

    Examples
    --------
    >>> v = query_descriptor([2.0] + [0.0] * 47, "1")
    >>> float(v[0]), v.shape
    (1.0, (48,))
    """
    if version is None:
        raise InvalidParameter("descriptor_set_version: a descriptor goes with the version of "
                               f"the set it was made with (this service searches set "
                               f"{searched_version!r})")
    if version != searched_version:
        raise InvalidParameter(f"descriptor_set_version {version!r} is not searched here; the "
                               f"stored descriptors are of set {searched_version!r} (vectors of "
                               "two versions are never compared): describe the query again")
    vector = np.asarray(values, np.float64)
    if vector.shape != (DIMENSIONS,):
        raise InvalidParameter(f"descriptor has {vector.size} numbers; set {searched_version!r} "
                               f"has {DIMENSIONS}")
    norm = float(np.linalg.norm(vector)) if np.isfinite(vector).all() else 0.0
    if norm <= 1e-12:
        raise InvalidParameter("descriptor must be finite and not all zeros")
    return (vector / norm).astype(np.float32)


def rank_grouped(query: npt.NDArray[np.float32], owner_of_row: npt.NDArray[np.int64],
                 vectors: npt.NDArray[np.float32], limit: int,
                 exclude: int | None = None) -> list[tuple[int, float]]:
    """The ``limit`` best owners (scans, objects) of ``vectors`` for ``query``: ``(id,
    similarity)``, best first; an owner's similarity is the best of its rows. Exact; ties broken
    by the smaller id; ``exclude`` is left out before ranking.

    Examples
    --------
    >>> rows = np.array([[1, 0], [0, 1], [0.6, 0.8]], np.float32)
    >>> rank_grouped(np.array([1, 0], np.float32), np.array([7, 7, 9]), rows, 5)
    [(7, 1.0), (9, 0.6)]
    >>> rank_grouped(np.array([1, 0], np.float32), np.array([7, 7, 9]), rows, 5, exclude=7)
    [(9, 0.6)]
    """
    if limit < 1 or owner_of_row.size == 0:
        return []
    scores = (vectors @ np.asarray(query, np.float32)).astype(np.float64)
    owners, index = np.unique(owner_of_row, return_inverse=True)
    best = np.full(owners.size, -np.inf)
    np.maximum.at(best, index, scores)
    if exclude is not None:
        best[owners == exclude] = -np.inf
    candidates = np.flatnonzero(np.isfinite(best))
    if candidates.size > limit:
        candidates = candidates[np.argpartition(-best[candidates], limit - 1)[:limit]]
    order = sorted(candidates.tolist(), key=lambda i: (-best[i], int(owners[i])))
    return [(int(owners[i]), round(float(np.clip(best[i], -1.0, 1.0)), 6)) for i in order]
