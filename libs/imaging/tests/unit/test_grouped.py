"""Statistics of many groups at once: the same numbers as NumPy's of each group."""

import numpy as np
import pytest

from specimen_imaging.grouped import group_percentiles, ranked_by_histogram


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_from_histograms_are_the_sorted_values_bit_for_bit(seed):
    """uint8 objects' percentiles are read off their 256-bin histograms: the same numbers as
    reading each object's sorted values (single pixels, one value, every value)."""
    rng = np.random.default_rng(seed)
    counts = np.concatenate([[1, 2, 3, 7], rng.integers(1, 3000, 40)]).astype(np.int64)
    obj = np.repeat(np.arange(counts.size), counts)
    values = rng.integers(0, 256, obj.size).astype(np.float64)
    values[: counts[0] + counts[1]] = 17.0  # tied values
    values[obj == 5] = rng.choice([0.0, 255.0], int(counts[5]))
    starts = np.cumsum(counts) - counts
    q = [10.0, 25.0, 50.0, 75.0, 90.0]
    sorted_values = values[np.lexsort((values, obj))]
    by_sort = group_percentiles(lambda ranks: sorted_values[starts[:, None] + ranks], counts, q)
    histograms = np.bincount(obj * 256 + values.astype(np.int64), minlength=counts.size * 256)
    histograms = histograms.reshape(-1, 256)
    assert np.array_equal(group_percentiles(ranked_by_histogram(histograms), counts, q), by_sort)
    expected = np.array([np.percentile(values[obj == k], q) for k in range(counts.size)])
    np.testing.assert_allclose(by_sort, expected, rtol=1e-15, atol=0)
