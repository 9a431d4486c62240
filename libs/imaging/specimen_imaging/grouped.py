"""Statistics of many groups of values at once (a frame's objects, a batch of regions), without
a Python loop over the groups: the batched descriptors (:mod:`specimen_imaging.descriptors_batch`)
and the batched similarity descriptors (:mod:`specimen_imaging.similarity`) read their
percentiles so, the same numbers as ``np.percentile`` of each group.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt


def group_percentiles(
    value_at: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]],
    counts: npt.NDArray[np.int64],
    q: list[float],
) -> npt.NDArray[np.float64]:
    """``np.percentile(v, q)`` (linear) of each group (rows: groups); ``value_at(ranks)`` gives
    each group's sorted value at the 0-based ranks ``ranks`` (n, len(q)).

    Examples
    --------
    >>> values = np.array([[1.0, 2.0, 4.0], [5.0, 5.0, 9.0]])
    >>> group_percentiles(lambda ranks: np.take_along_axis(values, ranks, 1), np.array([3, 3]), [50.0, 75.0])
    array([[2., 3.],
           [5., 7.]])
    """
    qs = np.true_divide(np.asarray(q, np.float64), 100)
    virtual = (counts[:, None] - 1) * qs[None, :]
    previous = np.floor(virtual)
    gamma = virtual - previous
    lo = previous.astype(np.int64)
    hi = np.minimum(lo + 1, counts[:, None] - 1)
    a = value_at(lo)
    b = value_at(hi)
    diff = b - a
    out = a + diff * gamma
    upper = gamma >= 0.5
    out[upper] = (b - diff * (1 - gamma))[upper]
    result: npt.NDArray[np.float64] = out
    return result


def ranked_by_histogram(
    histogram: npt.NDArray[np.int64],
) -> Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]]:
    """``value_at`` of :func:`group_percentiles` for groups of integer values ``0..bins-1``
    given by their histograms (n, bins): the value at rank ``k`` is the number of bins whose
    cumulative count is <= k (the same value as sorting the group and reading it at ``k``)."""
    cumulative = np.cumsum(histogram, axis=1)

    def value_at(ranks: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        below = (cumulative[:, :, None] <= ranks[:, None, :]).sum(axis=1)
        found: npt.NDArray[np.float64] = below.astype(np.float64)
        return found

    return value_at
