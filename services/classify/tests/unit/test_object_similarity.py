"""Object descriptors and the exact ranking (``domain.plankton.object_similarity``, issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from specimen_classify.domain.plankton.object_similarity import (
    DIMENSIONS,
    combine,
    describe_object,
    rank_objects,
)
from specimen_classify.domain.synthetic_plankton import plankton_frame
from specimen_kit.errors import InvalidParameter


def _object() -> tuple[np.ndarray, np.ndarray]:
    frame = plankton_frame(3, {"ovoid fecal pellets": 1}, height=96, width=96)
    return frame.image, frame.labels == 1


class TestDescribeObject:
    def test_unit_length_and_deterministic(self) -> None:
        pixels, mask = _object()
        first = describe_object(pixels, mask)
        assert first.shape == (DIMENSIONS,) and first.dtype == np.float32
        assert abs(float(first @ first) - 1) < 1e-5
        assert np.array_equal(first, describe_object(pixels, mask))

    def test_only_the_pixels_under_the_mask_count(self) -> None:
        # A run's crop may be faded, contoured or padded differently: none of it is under the mask.
        pixels, mask = _object()
        changed = pixels.copy()
        changed[~mask] = 255 - changed[~mask]
        assert np.allclose(describe_object(changed, mask), describe_object(pixels, mask), atol=1e-6)
        rows, cols = np.nonzero(mask)
        window = np.s_[rows.min() - 3:rows.max() + 4, cols.min() - 5:cols.max() + 2]
        assert np.allclose(describe_object(pixels[window], mask[window]),
                           describe_object(pixels, mask), atol=1e-6)

    def test_bright_on_dark_is_inverted_first(self) -> None:
        pixels, mask = _object()
        assert np.allclose(describe_object(255 - pixels, mask, bright_on_dark=True),
                           describe_object(pixels, mask), atol=1e-6)

    def test_a_speck_or_a_mask_of_another_size_is_refused(self) -> None:
        pixels, mask = _object()
        speck = np.zeros_like(mask)
        speck[5, 5] = True
        with pytest.raises(InvalidParameter, match="at least 4"):
            describe_object(pixels, speck)
        with pytest.raises(InvalidParameter, match="must match"):
            describe_object(pixels, mask[1:])


class TestCombine:
    def test_weights_keep_unit_length(self) -> None:
        image = np.eye(3)[0]
        features = np.eye(4)[1]
        for weight in (0.0, 0.4, 1.0):
            assert abs(float(np.linalg.norm(combine(image, features, weight))) - 1) < 1e-6


class TestRankObjects:
    def test_best_first_ties_by_row(self) -> None:
        vectors = np.array([[0, 1], [1, 0], [1, 0], [0.6, 0.8]], np.float32)
        assert rank_objects(np.array([1, 0], np.float32), vectors, None, 3) == [
            (1, 1.0), (2, 1.0), (3, 0.6)]

    def test_a_filter_applies_before_the_top_k(self) -> None:
        # The allowed rows are the worst: a filter after the top-2 would answer nothing.
        vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], np.float32)
        allowed = np.array([False, False, True, True])
        assert [row for row, _ in rank_objects(np.array([1, 0], np.float32), vectors, allowed, 2)] == [2, 3]

    def test_nothing_to_rank(self) -> None:
        empty = np.zeros((0, 2), np.float32)
        assert rank_objects(np.array([1, 0], np.float32), empty, None, 5) == []
        assert rank_objects(np.array([1, 0], np.float32), np.eye(2, dtype=np.float32),
                            np.array([False, False]), 5) == []
