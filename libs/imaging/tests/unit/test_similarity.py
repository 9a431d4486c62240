"""Similarity descriptors: invariants (hypothesis), region-only description, the LBP against a
plain loop, and the shipped basis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from specimen_imaging import scenes, similarity
from specimen_imaging.similarity import (
    DESCRIPTOR_SET_VERSION,
    DIMENSIONS,
    RAW_LENGTH,
    default_basis,
    describe,
    fit_basis,
    raw_descriptor,
)
from specimen_kit.errors import InvalidParameter

shapes = st.tuples(st.integers(2, 48), st.integers(2, 48)).flatmap(
    lambda hw: st.sampled_from([hw, (*hw, 3), (*hw, 4), (*hw, 1)]))
images = st.one_of(
    shapes.flatmap(lambda s: arrays(np.uint8, s)),
    shapes.flatmap(lambda s: arrays(np.uint16, s)),
)


class TestInvariants:
    @settings(max_examples=60, deadline=None)
    @given(images)
    def test_finite_fixed_length_unit_and_deterministic(self, image: np.ndarray) -> None:
        if image.shape[0] * image.shape[1] < similarity.MIN_REGION_PIXELS:
            return
        first = describe(image)
        again = describe(image.copy())
        assert first.shape == (DIMENSIONS,) and first.dtype == np.float32
        assert np.isfinite(first).all()
        assert abs(float(first @ first) - 1.0) < 1e-5
        assert first.tobytes() == again.tobytes()

    @settings(max_examples=40, deadline=None)
    @given(images, st.integers(0, 2**32 - 1))
    def test_masked_descriptors_are_finite_and_fixed_length(self, image: np.ndarray, seed: int) -> None:
        rng = np.random.default_rng(seed)
        mask = rng.random(image.shape[:2]) < 0.5
        if mask.sum() < similarity.MIN_REGION_PIXELS:
            with pytest.raises(InvalidParameter, match="select at least"):
                describe(image, mask)
            return
        raw = raw_descriptor(image, mask)
        assert raw.shape == (RAW_LENGTH,) and np.isfinite(raw).all()
        vector = describe(image, mask)
        assert vector.shape == (DIMENSIONS,) and np.isfinite(vector).all()

    @settings(max_examples=30, deadline=None)
    @given(st.integers(0, 2**32 - 1))
    def test_pixels_outside_the_region_do_not_matter(self, seed: int) -> None:
        item = scenes.scene(scenes.KINDS[seed % len(scenes.KINDS)],
                            scenes.BACKGROUNDS[seed % len(scenes.BACKGROUNDS)], seed, size=64)
        other = np.random.default_rng(seed).integers(0, 256, item.pixels.shape, dtype=np.uint8)
        repainted = np.where(item.mask[:, :, None], item.pixels, other)
        assert describe(item.pixels, item.mask).tobytes() == describe(repainted, item.mask).tobytes()

    def test_the_region_s_position_does_not_matter(self) -> None:
        item = scenes.scene("yellow-star", "plain-light", 3, size=96)
        rows = np.flatnonzero(item.mask.any(axis=1))
        cols = np.flatnonzero(item.mask.any(axis=0))
        box = item.pixels[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        box_mask = item.mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        moved = np.zeros((150, 150, 3), np.uint8)
        moved_mask = np.zeros((150, 150), bool)
        moved[5:5 + box.shape[0], 20:20 + box.shape[1]] = box
        moved_mask[5:5 + box.shape[0], 20:20 + box.shape[1]] = box_mask
        a, b = describe(item.pixels, item.mask), describe(moved, moved_mask)
        # Only the "share of the image" shape value differs (the image is larger).
        assert float(a @ b) > 0.97


class TestRefusals:
    def test_a_region_too_small_is_a_422(self) -> None:
        mask = np.zeros((8, 8), bool)
        mask[0, :3] = True
        with pytest.raises(InvalidParameter, match="3 pixel"):
            describe(np.zeros((8, 8), np.uint8), mask)

    def test_a_mask_of_another_size_is_a_422(self) -> None:
        with pytest.raises(InvalidParameter, match="must match"):
            describe(np.zeros((8, 8), np.uint8), np.ones((8, 9), bool))

    def test_a_float_image_is_a_422(self) -> None:
        with pytest.raises(InvalidParameter, match="dtype float64"):
            describe(np.zeros((8, 8)))


class TestGroups:
    def test_lbp_matches_a_plain_loop_over_the_square_neighbourhood(self) -> None:
        rng = np.random.default_rng(1)
        gray = rng.integers(0, 4, (12, 12)).astype(np.float64)  # many ties: >= is tested too
        inside = np.ones((12, 12), bool)
        ours = similarity._lbp_histogram(gray, inside)
        ring = [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]
        padded = np.pad(gray, 1, mode="edge")  # the image's border repeats outwards
        counts = np.zeros(10)
        for r in range(1, 13):
            for c in range(1, 13):
                bits = [int(padded[r + dr, c + dc] >= padded[r, c]) for dr, dc in ring]
                changes = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
                counts[sum(bits) if changes <= 2 else 9] += 1
        np.testing.assert_allclose(ours, counts / counts.sum(), atol=1e-12)

    def test_colour_separates_red_from_blue(self) -> None:
        red = np.zeros((32, 32, 3), np.uint8)
        red[..., 0] = 200
        blue = np.zeros((32, 32, 3), np.uint8)
        blue[..., 2] = 200
        assert float(describe(red) @ describe(red)) > float(describe(red) @ describe(blue))


class TestBasis:
    def test_the_shipped_basis_is_for_this_version_and_these_groups(self) -> None:
        basis = default_basis()
        assert basis.version == DESCRIPTOR_SET_VERSION
        assert basis.axes.shape == (DIMENSIONS, RAW_LENGTH)
        np.testing.assert_allclose(basis.axes @ basis.axes.T, np.eye(DIMENSIONS), atol=1e-8)

    def test_a_refit_gives_the_same_axes(self) -> None:
        rng = np.random.default_rng(0)
        raw = rng.normal(size=(80, RAW_LENGTH))
        a, b = fit_basis(raw, 6), fit_basis(raw.copy(), 6)
        assert a.axes.tobytes() == b.axes.tobytes()

    def test_too_few_rows_for_the_dimensions_is_refused(self) -> None:
        with pytest.raises(InvalidParameter, match="n > 48"):
            fit_basis(np.zeros((10, RAW_LENGTH)))
