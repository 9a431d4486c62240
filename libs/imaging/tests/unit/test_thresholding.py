import numpy as np
import pytest
import skimage.data
from scipy import ndimage
from skimage.filters import threshold_otsu

from specimen_imaging.errors import FlatImage
from specimen_imaging.thresholding import (
    ThresholdParams,
    cutout,
    fill_holes,
    otsu_threshold,
    overlay_contours,
    threshold_mask,
)
from specimen_kit.errors import InvalidParameter


class TestThresholdParams:
    @pytest.mark.parametrize(
        ("kwargs", "named"),
        [
            ({"method": "median"}, "method='median'"),
            ({"quantile": 1.0}, "quantile=1.0"),
            ({"opening_radius": -1}, "opening_radius=-1"),
            ({"closing_radius": 10_000}, "closing_radius=10000"),
            ({"min_area": 5, "max_area": 2}, "max_area=2"),
            ({"method": "fixed"}, "value"),
            ({"polarity": "up"}, "polarity='up'"),
        ],
    )
    def test_out_of_range_value_is_named(self, kwargs, named):
        with pytest.raises(InvalidParameter, match=named.replace("(", r"\(")):
            ThresholdParams(**kwargs)


class TestOtsuThreshold:
    def test_two_level_image_thresholds_at_the_lower_level(self):
        img = np.array([[10, 10, 200, 200]], np.uint8)
        assert otsu_threshold(img) == 10.0

    @pytest.mark.parametrize("name", ["camera", "coins", "cell"])
    def test_equals_skimage_on_real_images(self, name):
        img = getattr(skimage.data, name)()
        assert otsu_threshold(img) == threshold_otsu(img)

    @pytest.mark.parametrize("name", ["camera", "coins"])
    def test_sixteen_bit_equals_skimage(self, name):
        img = getattr(skimage.data, name)().astype(np.uint16) * 257 + 3
        assert otsu_threshold(img) == threshold_otsu(img)

    def test_flat_image_says_the_value(self):
        with pytest.raises(FlatImage, match="all pixels are 7"):
            otsu_threshold(np.full((3, 3), 7, np.uint8))


class TestThresholdMask:
    def test_square_on_black_is_one_object(self):
        img = np.zeros((10, 10), np.uint8)
        img[2:8, 2:8] = 200
        result = threshold_mask(img)
        assert result.object_count == 1
        assert result.mask.sum() == 36
        assert result.foreground_fraction == 0.36

    def test_dark_on_light_selects_the_dark_side(self):
        img = np.full((10, 10), 200, np.uint8)
        img[2:8, 2:8] = 10
        result = threshold_mask(img, ThresholdParams(polarity="dark-on-light"))
        assert result.mask[2:8, 2:8].all() and result.mask.sum() == 36

    def test_rgb_input_is_not_mutated(self):
        rng = np.random.default_rng(0)
        img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        before = img.copy()
        threshold_mask(img, ThresholdParams(opening_radius=1, closing_radius=1, fill_holes=True))
        assert np.array_equal(img, before)

    def test_area_filter_drops_small_objects(self):
        img = np.zeros((12, 12), np.uint8)
        img[1, 1] = 255
        img[5:9, 5:9] = 255
        assert threshold_mask(img, ThresholdParams(min_area=2)).object_count == 1
        assert threshold_mask(img, ThresholdParams(max_area=1)).object_count == 1

    def test_opening_removes_a_single_pixel(self):
        img = np.zeros((12, 12), np.uint8)
        img[1, 1] = 255
        img[4:10, 4:10] = 255
        assert threshold_mask(img, ThresholdParams(opening_radius=1)).object_count == 1

    def test_fixed_and_quantile_methods(self):
        img = np.arange(100, dtype=np.uint8).reshape(10, 10)
        assert threshold_mask(img, ThresholdParams(method="fixed", value=89)).mask.sum() == 10
        assert threshold_mask(img, ThresholdParams(method="quantile", quantile=0.5)).threshold == 49.5

    def test_fixed_value_outside_dtype_is_rejected(self):
        with pytest.raises(InvalidParameter, match="value=300"):
            threshold_mask(np.zeros((2, 2), np.uint8), ThresholdParams(method="fixed", value=300))

    def test_flat_image_is_rejected(self):
        with pytest.raises(FlatImage):
            threshold_mask(np.zeros((4, 4), np.uint8))

    def test_bad_dtype_names_the_dtype(self):
        with pytest.raises(InvalidParameter, match="int64"):
            threshold_mask(np.zeros((4, 4), np.int64))

    def test_fill_holes_equals_scipy(self):
        rng = np.random.default_rng(1)
        mask = rng.random((40, 40)) > 0.4
        assert np.array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))


class TestOverlayAndCutout:
    def test_overlay_draws_the_outline_in_red(self):
        mask = np.zeros((6, 6), bool)
        mask[1:5, 1:5] = True
        out = overlay_contours(np.zeros((6, 6), np.uint8), mask)
        assert out[1, 1].tolist() == [255, 0, 0] and out[2, 2].tolist() == [0, 0, 0]

    def test_cutout_white_and_transparent(self):
        img = np.full((2, 2, 3), 9, np.uint8)
        mask = np.array([[True, False], [False, False]])
        assert cutout(img, mask)[0, 1].tolist() == [255, 255, 255]
        rgba = cutout(img, mask, "transparent")
        assert rgba.shape == (2, 2, 4) and rgba[..., 3].tolist() == [[255, 0], [0, 0]]

    # Issue 10: transparent cut-outs kept the original RGB under alpha 0 (97,773 of 97,773
    # background pixels of scikit-image's coffee), so flattening the alpha brought it back.
    def test_transparent_pixels_carry_no_colour(self):
        img = np.full((2, 2, 3), 9, np.uint8)
        mask = np.array([[True, False], [False, False]])
        rgba = cutout(img, mask, "transparent")
        assert rgba[0, 0].tolist() == [9, 9, 9, 255]
        assert rgba[1, 1].tolist() == [0, 0, 0, 0]

    def test_already_transparent_input_pixels_are_cleared_too(self):
        img = np.full((1, 2, 4), 9, np.uint8)
        img[0, 0, 3] = 0
        rgba = cutout(img, np.ones((1, 2), bool), "transparent")
        assert rgba.tolist() == [[[0, 0, 0, 0], [9, 9, 9, 9]]]
