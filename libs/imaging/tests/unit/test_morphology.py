"""Opening and closing by distance transform equal OpenCV's elliptical element (issue 9, finding 7)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from specimen_imaging import morphology
from specimen_imaging.thresholding import ThresholdParams, threshold_mask


def _opencv_opening(mask: np.ndarray, radius: int) -> np.ndarray:
    element = morphology.elliptical_element(radius)
    return cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_OPEN, element).astype(bool)


def _opencv_closing(mask: np.ndarray, radius: int) -> np.ndarray:
    element = morphology.elliptical_element(radius)
    closed = cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_CLOSE, element,
                              borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return closed.astype(bool)


def _random_mask(seed: int, shape: tuple[int, int], density: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blobs = (rng.random(shape) < density).view(np.uint8)
    return cv2.dilate(blobs, morphology.elliptical_element(2)).astype(bool)


class TestTheDistanceTransformPath:
    @pytest.fixture(autouse=True)
    def _always_the_distance_transform(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(morphology, "SMALL_RADIUS", 0)

    @pytest.mark.parametrize("radius", [*range(1, 26), 37, 64, 101])
    @pytest.mark.parametrize("density", [0.002, 0.02, 0.2])
    def test_dilate_and_both_erosions_equal_opencv_pixel_for_pixel(self, radius: int, density: float) -> None:
        mask = _random_mask(radius, (90 + radius, 70 + 2 * radius), density)
        element = morphology.elliptical_element(radius)
        assert np.array_equal(morphology.dilate(mask, radius), cv2.dilate(mask.view(np.uint8), element) > 0)
        assert np.array_equal(
            morphology.erode(mask, radius, frame_is_foreground=True),
            cv2.erode(mask.view(np.uint8), element) > 0,
        )
        assert np.array_equal(
            morphology.erode(mask, radius, frame_is_foreground=False),
            cv2.erode(mask.view(np.uint8), element, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0,
        )

    @pytest.mark.parametrize("radius", [5, 12, 40])
    def test_opening_and_closing_equal_opencv_across_tile_seams(
        self, radius: int, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(morphology, "TILE", 17)
        mask = _random_mask(7 * radius, (150, 130), 0.01)
        assert np.array_equal(morphology.opening(mask, radius), _opencv_opening(mask, radius))
        assert np.array_equal(morphology.closing(mask, radius), _opencv_closing(mask, radius))

    def test_the_largest_radius_matches_opencv_on_a_single_pixel(self) -> None:
        mask = np.zeros((600, 600), bool)
        mask[300, 300] = True
        radius = 256
        expected = np.zeros_like(mask)
        expected[44:557, 44:557] = morphology.elliptical_element(radius) > 0
        assert np.array_equal(morphology.dilate(mask, radius), expected)

    def test_empty_and_full_masks(self) -> None:
        empty, full = np.zeros((30, 40), bool), np.ones((30, 40), bool)
        assert not morphology.dilate(empty, 9).any()
        assert morphology.erode(full, 9, frame_is_foreground=True).all()
        assert np.array_equal(
            morphology.erode(full, 9, frame_is_foreground=False),
            cv2.erode(full.view(np.uint8), morphology.elliptical_element(9), borderType=cv2.BORDER_CONSTANT,
                      borderValue=0) > 0,
        )


class TestThresholdMaskKeepsItsResults:
    @pytest.mark.parametrize(("opening", "closing"), [(0, 9), (7, 0), (6, 11), (2, 3), (45, 0), (0, 50)])
    def test_the_clean_up_equals_the_structuring_element_one(self, opening: int, closing: int) -> None:
        rng = np.random.default_rng(opening * 31 + closing)
        img = cv2.GaussianBlur((rng.random((160, 180)) * 255).astype(np.uint8), (0, 0), 3)
        found = threshold_mask(img, ThresholdParams(opening_radius=opening, closing_radius=closing))
        mask = img > found.threshold
        if opening:
            mask = _opencv_opening(mask, opening)
        if closing:
            mask = _opencv_closing(mask, closing)
        assert np.array_equal(found.mask, mask)


class TestTheDeadlineStopsThePipelineBetweenSteps:
    def test_threshold_mask_stops_after_the_step_where_the_deadline_passed(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from specimen_kit.deadlines import Deadline, WorkDeadlineExceeded

        now = [0.0]
        calls: list[str] = []
        real_opening = morphology.opening

        def slow_opening(mask: np.ndarray, radius: int) -> np.ndarray:
            calls.append("opening")
            now[0] = 100.0  # this step ran past the deadline
            return real_opening(mask, radius)

        def closing(mask: np.ndarray, radius: int) -> np.ndarray:
            calls.append("closing")
            return mask

        monkeypatch.setattr(morphology, "opening", slow_opening)
        monkeypatch.setattr(morphology, "closing", closing)
        img = np.zeros((20, 20), np.uint8)
        img[5:15, 5:15] = 200
        with pytest.raises(WorkDeadlineExceeded, match="'opening'"):
            threshold_mask(img, ThresholdParams(opening_radius=3, closing_radius=3),
                           deadline=Deadline(10, clock=lambda: now[0]))
        assert calls == ["opening"]
