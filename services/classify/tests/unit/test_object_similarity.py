"""Object descriptors and the exact ranking (``domain.plankton.object_similarity``, issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from specimen_classify.domain.plankton import object_similarity
from specimen_classify.domain.plankton.object_similarity import (
    DIMENSIONS,
    FEATURE_NAMES,
    IMAGE_WEIGHT,
    combine,
    describe_object,
    describe_objects,
    rank_objects,
)
from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame
from specimen_imaging import similarity
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


def _frame_objects(seed: int, per_category: int, pad: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every object of a generated frame as a run hands it over: its crop with ``pad`` pixels
    around its box (clipped at the frame's edge), and its mask there."""
    frame = plankton_frame(seed, dict.fromkeys(CATEGORIES, per_category), height=384, width=384)
    objects = []
    for found in frame.objects:
        r0, c0, r1, c1 = found.bbox
        r0, c0 = max(r0 - pad, 0), max(c0 - pad, 0)
        window = np.s_[r0:r1 + pad, c0:c1 + pad]
        objects.append((frame.image[window], frame.labels[window] == found.object_id))
    return objects


class TestDescribeObjects:
    """A frame's descriptors at once (the run's path) are :func:`describe_object`'s."""

    @pytest.mark.parametrize(("seed", "pad"), [(1, 8), (2, 8), (3, 1), (4, 0)])
    def test_the_same_vectors_as_one_object_at_a_time(self, seed: int, pad: int) -> None:
        objects = _frame_objects(seed, 3, pad)
        together = describe_objects(objects)
        assert len(together) == len(objects) >= 12
        orientation = similarity.DIMENSIONS + FEATURE_NAMES.index("orientation")
        for (pixels, mask), got in zip(objects, together, strict=True):
            expected = describe_object(pixels, mask)
            assert got is not None and got.dtype == np.float32
            # The one value rounding may move: the orientation of an object lying exactly along
            # an axis, where either sign is right (measured on a shifted copy, it flips as well).
            close = np.isclose(got, expected, rtol=0, atol=1e-6)
            assert close.all() or np.flatnonzero(~close).tolist() == [orientation]

    def test_objects_over_several_sheets_give_the_same_vectors(self, monkeypatch: pytest.MonkeyPatch) -> None:
        objects = _frame_objects(7, 3, 8)
        together = describe_objects(objects)
        monkeypatch.setattr(object_similarity, "SHEET_PIXELS", 500)  # a few windows per sheet
        assert all(np.array_equal(a, b) for a, b in zip(describe_objects(objects), together, strict=True))

    def test_bright_on_dark_and_the_ones_that_cannot_be_described(self) -> None:
        (pixels, mask), (other, other_mask) = _frame_objects(5, 1, 8)[:2]
        speck = np.zeros_like(mask)
        speck[3, 3] = True
        got = describe_objects([(255 - pixels, mask), (pixels, speck), (pixels, mask[1:]),
                                (255 - other, other_mask)], bright_on_dark=True)
        assert got[1] is None and got[2] is None
        assert np.allclose(got[0], describe_object(pixels, mask), atol=1e-6)
        assert np.allclose(got[3], describe_object(other, other_mask), atol=1e-6)
        assert describe_objects([]) == []

    def test_weights_are_those_of_one_object(self) -> None:
        (pixels, mask), = _frame_objects(6, 1, 8)[:1]
        (vector,) = describe_objects([(pixels, mask)])
        assert vector is not None
        assert abs(float(np.linalg.norm(vector[:similarity.DIMENSIONS])) - IMAGE_WEIGHT) < 1e-5


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
