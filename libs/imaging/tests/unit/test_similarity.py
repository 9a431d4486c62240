"""Similarity descriptors: invariants (hypothesis), region-only description, the LBP against a
plain loop, batches against one region at a time and against set 1's recorded values, and the
shipped basis."""

from __future__ import annotations

from pathlib import Path

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
    describe_many,
    fit_basis,
    raw_descriptor,
    raw_descriptors,
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
        ours = similarity._lbp_histogram(gray.astype(np.uint8)[None], inside[None])[0]
        ring = [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]
        padded = np.pad(gray, 1, mode="edge")  # the image's border repeats outwards
        counts = np.zeros(10)
        for r in range(1, 13):
            for c in range(1, 13):
                bits = [int(padded[r + dr, c + dc] >= padded[r, c]) for dr, dc in ring]
                changes = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
                counts[sum(bits) if changes <= 2 else 9] += 1
        np.testing.assert_allclose(ours, counts / counts.sum(), atol=1e-12)

    def test_colour_bins_are_numpy_s_histogram_bins(self) -> None:
        """A region's colour histograms are read off a table of each 8-bit Lab code's bin: the
        bin ``np.histogram`` puts that code's value in (none when out of range)."""
        values, bins = similarity._colour_tables()
        for channel, (low, high) in enumerate(similarity._RANGES):
            for code in range(256):
                expected, _ = np.histogram(values[code, channel:channel + 1], bins=similarity.COLOUR_BINS,
                                           range=(low, high))
                assert np.array_equal(bins[channel, code], expected), (channel, code)

    def test_colour_separates_red_from_blue(self) -> None:
        red = np.zeros((32, 32, 3), np.uint8)
        red[..., 0] = 200
        blue = np.zeros((32, 32, 3), np.uint8)
        blue[..., 2] = 200
        assert float(describe(red) @ describe(red)) > float(describe(red) @ describe(blue))


RECORDED = Path(__file__).with_name("recorded") / "similarity_set1_raw.npz"


def recorded_regions() -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The regions whose raw groups :data:`RECORDED` holds: scenes of every kind and background,
    noise of each pixel type, a flat image, a one-row region, whole images."""
    regions: list[tuple[np.ndarray, np.ndarray | None]] = []
    for k, kind in enumerate(scenes.KINDS):
        item = scenes.scene(kind, scenes.BACKGROUNDS[k % len(scenes.BACKGROUNDS)], k, size=48 + 16 * (k % 5))
        regions.append((item.pixels, item.mask))
    rng = np.random.default_rng(20261207)
    for k in range(12):
        h, w = (int(v) for v in rng.integers(3, 140, 2))
        image = [rng.integers(0, 256, (h, w), dtype=np.uint8),
                 rng.integers(0, 65536, (h, w, 3), dtype=np.uint16),
                 rng.normal(128, 40, (h, w, 4)).clip(0, 255).astype(np.uint8)][k % 3]
        mask = rng.random((h, w)) < rng.uniform(0.2, 1.0)
        regions.append((image, mask if k % 4 else None))
    line = np.zeros((30, 40), bool)
    line[12, 3:30] = True
    regions.append((rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), line))
    regions.append((np.full((20, 20), 77, np.uint8), None))
    return regions


class TestBatches:
    def test_batches_give_set_1_s_recorded_raw_groups(self) -> None:
        """Set 1 was defined one region at a time (d86e028); its values for these regions were
        recorded then. Batched, the groups are the same within float rounding (the colour
        moments are now read off histograms)."""
        with np.load(RECORDED) as recorded:
            expected = recorded["raw"]
        regions = recorded_regions()
        np.testing.assert_allclose(raw_descriptors(regions), expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.stack([raw_descriptor(i, m) for i, m in regions]), expected,
                                   rtol=0, atol=1e-12)

    @settings(max_examples=25, deadline=None)
    @given(st.lists(st.tuples(images, st.integers(0, 2**32 - 1)), min_size=1, max_size=6))
    def test_a_batch_describes_each_region_as_alone(self, drawn: list[tuple[np.ndarray, int]]) -> None:
        regions = []
        for image, seed in drawn:
            mask = np.random.default_rng(seed).random(image.shape[:2]) < 0.6
            if mask.sum() >= similarity.MIN_REGION_PIXELS:
                regions.append((image, mask))
        if not regions:
            return
        alone = np.stack([describe(image, mask) for image, mask in regions])
        np.testing.assert_allclose(describe_many(regions), alone, rtol=0, atol=1e-6)

    def test_more_regions_than_a_batch_are_described_a_batch_at_a_time(self, monkeypatch) -> None:
        regions = recorded_regions()
        whole = raw_descriptors(regions)
        monkeypatch.setattr(similarity, "BATCH", 4)
        np.testing.assert_allclose(raw_descriptors(regions), whole, rtol=0, atol=1e-12)

    def test_no_region_is_an_empty_batch(self) -> None:
        assert describe_many([]).shape == (0, DIMENSIONS)

    def test_a_refused_region_refuses_the_batch(self) -> None:
        small = np.zeros((8, 8), bool)
        small[0, :2] = True
        with pytest.raises(InvalidParameter, match="2 pixel"):
            describe_many([(np.zeros((8, 8), np.uint8), None), (np.zeros((8, 8), np.uint8), small)])


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
