"""Near-duplicate grouping by pHash, and splits that keep every group on one side."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from specimen_classify.domain.dedup import (
    MAX_DISTANCE,
    group_summary,
    hamming_distances,
    near_duplicate_groups,
    perceptual_hash,
    split_groups,
)
from specimen_classify.domain.synthetic_mri import mri_slice


def _degraded_copy(image: np.ndarray, side: int, seed: int) -> np.ndarray:
    """What a public set's duplicate looks like: resized, re-saved as JPEG, a little noise."""
    resized = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    encoded = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, 85])[1]
    jpeg = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    noise = np.random.default_rng(seed).normal(0.0, 3.0, jpeg.shape)
    return np.clip(jpeg + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def slices() -> list[np.ndarray]:
    return [mri_slice((5, i), has_tumor=bool(i % 2), size=256).image for i in range(12)]


class TestPerceptualHash:
    def test_is_eight_bytes_and_the_same_for_the_same_pixels(self, slices: list[np.ndarray]) -> None:
        first, again = perceptual_hash(slices[0]), perceptual_hash(slices[0].copy())

        assert first.shape == (8,) and first.dtype == np.uint8
        assert first.tolist() == again.tolist()

    def test_rgb_input_hashes_like_its_gray_version(self, slices: list[np.ndarray]) -> None:
        rgb = np.repeat(slices[1][:, :, np.newaxis], 3, axis=2)

        assert perceptual_hash(rgb).tolist() == perceptual_hash(slices[1]).tolist()


class TestHammingDistances:
    def test_counts_differing_bits_between_every_pair(self) -> None:
        a = np.array([[0b0000_0000, 0b1111_1111], [0b1010_1010, 0]], np.uint8)
        b = np.array([[0, 0], [0b1111_1111, 0b1111_1111]], np.uint8)

        assert hamming_distances(a, b).tolist() == [[8, 8], [4, 12]]

    def test_hashes_of_different_lengths_are_refused(self) -> None:
        with pytest.raises(ValueError, match="differ in length: 2 and 1"):
            hamming_distances(np.zeros((1, 2), np.uint8), np.zeros((1, 1), np.uint8))


class TestNearDuplicateGroups:
    @pytest.mark.parametrize("side", [180, 300, 512])
    def test_a_resized_reencoded_noised_copy_joins_its_original(
        self, slices: list[np.ndarray], side: int
    ) -> None:
        copies = [_degraded_copy(image, side, seed=i) for i, image in enumerate(slices)]
        hashes = np.stack([perceptual_hash(image) for image in slices + copies])

        groups = near_duplicate_groups(hashes)

        assert groups[: len(slices)].tolist() == groups[len(slices):].tolist()

    def test_distinct_synthetic_slices_stay_apart(self, slices: list[np.ndarray]) -> None:
        hashes = np.stack([perceptual_hash(image) for image in slices])

        assert near_duplicate_groups(hashes).tolist() == list(range(len(slices)))
        assert hamming_distances(hashes, hashes)[np.triu_indices(len(slices), 1)].min() > MAX_DISTANCE

    def test_a_chain_of_close_hashes_is_one_group_numbered_by_first_appearance(self) -> None:
        # 0b0000 - 0b0001 - 0b0011 chain within 1 bit; 0b1111_0000 is far from all.
        hashes = np.array([[0b1111_0000], [0b0000], [0b0011], [0b0001]], np.uint8)

        assert near_duplicate_groups(hashes, max_distance=1).tolist() == [0, 1, 1, 1]

    def test_zero_distance_groups_exact_copies_only(self) -> None:
        hashes = np.array([[7], [7], [6]], np.uint8)

        assert near_duplicate_groups(hashes, max_distance=0).tolist() == [0, 0, 1]

    def test_a_negative_distance_is_refused(self) -> None:
        with pytest.raises(ValueError, match="max_distance=-1"):
            near_duplicate_groups(np.zeros((2, 8), np.uint8), max_distance=-1)


class TestGroupSummary:
    def test_counts_groups_and_images_sharing_one(self) -> None:
        assert group_summary(np.array([0, 1, 1, 2, 3, 3, 3])) == {
            "groups": 4, "images_in_multi_image_groups": 5, "largest_group": 3}


class TestSplitGroups:
    def test_single_images_split_exactly_by_fraction_within_each_class(self) -> None:
        labels = np.array(["healthy"] * 40 + ["tumor"] * 60)

        train, val, test = split_groups(np.arange(100), labels, (0.7, 0.15, 0.15), seed=0)

        assert [part.size for part in (train, val, test)] == [70, 15, 15]
        assert [int((labels[part] == "tumor").sum()) for part in (train, val, test)] == [42, 9, 9]
        assert np.concatenate([train, val, test]).tolist() != list(range(100))
        assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))

    def test_no_group_straddles_two_parts(self) -> None:
        rng = np.random.default_rng(3)
        groups = rng.integers(0, 30, 120)
        labels = rng.integers(0, 2, 120)

        parts = split_groups(groups, labels, (0.6, 0.2, 0.2), seed=4)

        seen = [set(groups[part].tolist()) for part in parts]
        assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
        assert sum(part.size for part in parts) == 120

    def test_a_group_mixing_classes_still_leaves_the_parts_stratified(self) -> None:
        # One large mixed group (10 + 10) and 80 single images.
        groups = np.r_[np.zeros(20, int), np.arange(1, 81)]
        labels = np.r_[np.zeros(10, int), np.ones(10, int), np.zeros(40, int), np.ones(40, int)]

        train, val, test = split_groups(groups, labels, (0.7, 0.15, 0.15), seed=0)

        assert set(range(20)) <= set(train.tolist())
        tumors = [int((labels[p] == 1).sum()) for p in (train, val, test)]
        # 50 per class: 35 / 7.5 / 7.5, so the halves round one up and one down.
        assert tumors[0] == 35 and sorted(tumors[1:]) == [7, 8]

    def test_the_same_seed_gives_the_same_split_and_another_seed_another(self) -> None:
        labels = np.arange(50) % 2

        first = split_groups(np.arange(50), labels, seed=7)
        again = split_groups(np.arange(50), labels, seed=7)
        other = split_groups(np.arange(50), labels, seed=8)

        assert [p.tolist() for p in first] == [p.tolist() for p in again]
        assert [p.tolist() for p in first] != [p.tolist() for p in other]

    def test_a_zero_fraction_leaves_its_part_empty(self) -> None:
        train, val, test = split_groups(np.arange(10), np.zeros(10), (0.8, 0.0, 0.2), seed=0)

        assert (train.size, val.size, test.size) == (8, 0, 2)

    @pytest.mark.parametrize("fractions", [(0.7, 0.2, 0.2), (1.2, -0.2), ()])
    def test_fractions_that_are_not_shares_are_refused(self, fractions: tuple[float, ...]) -> None:
        with pytest.raises(ValueError, match="fractions="):
            split_groups(np.arange(4), np.zeros(4), fractions)

    def test_lengths_that_differ_are_refused(self) -> None:
        with pytest.raises(ValueError, match=r"shapes \(4,\) and \(3,\)"):
            split_groups(np.arange(4), np.zeros(3))
