"""The one object pipeline (threshold → objects → measurements) and its request options."""

import numpy as np
import pytest

from specimen_imaging.errors import FlatImage
from specimen_imaging.extraction import extract_objects
from specimen_imaging.measurements import FEATURE_NAMES, measure_objects
from specimen_imaging.objects import find_objects
from specimen_imaging.options import ExtractionOptions, validate_params
from specimen_imaging.thresholding import ThresholdParams, threshold_mask
from specimen_kit.errors import InvalidParameter


def frame() -> np.ndarray:
    """Light background, a 3x4 dark block, a dark ring with a hole, a dark speck on the border."""
    img = np.full((12, 14), 200, np.uint8)
    img[2:5, 2:6] = 20
    img[6:11, 7:12] = 30
    img[8, 9] = 200
    img[0, 13] = 25
    return img


class TestExtractObjects:
    def test_equals_the_three_steps_in_turn(self):
        params = ThresholdParams(polarity="dark-on-light")
        objects, measured = extract_objects(frame(), params, min_area=2, keep_border=False)
        expected = find_objects(threshold_mask(frame(), params).mask, min_area=2, keep_border=False)
        assert np.array_equal(objects.labels, expected.labels)
        assert objects.bboxes.tolist() == [[2, 2, 5, 6], [6, 7, 11, 12]]
        assert np.array_equal(measured.features, measure_objects(expected.labels, frame()).features)
        assert measured.column("area").tolist() == [12.0, 25.0]
        assert measured.features.shape == (2, len(FEATURE_NAMES))

    def test_a_given_mask_replaces_the_threshold(self):
        mask = np.zeros((12, 14), bool)
        mask[0:3, 0:3] = True
        objects, measured = extract_objects(frame(), mask=mask)
        assert objects.bboxes.tolist() == [[0, 0, 3, 3]]
        assert measured.column("intensity_max").tolist() == [200.0]

    def test_area_filter_counts_the_filled_object(self):
        # The ring has 24 pixels and a one-pixel hole: its filled area is 25.
        params = ThresholdParams(polarity="dark-on-light")
        _, measured = extract_objects(frame(), params, min_area=25, max_area=25)
        assert measured.column("area").tolist() == [25.0]

    def test_flat_field_first_finds_objects_on_both_ends_of_a_ramp(self):
        img = np.tile(np.linspace(90, 250, 64), (48, 1)).round().astype(np.uint8)
        img[20:26, 6:12] = 30
        img[20:26, 50:56] = 150
        params = ThresholdParams(polarity="dark-on-light")
        plain, _ = extract_objects(img, params, keep_border=False)
        corrected, measured = extract_objects(img, params, keep_border=False, flat_field_sigma=8.0)
        # Uncorrected, the dark end of the ramp is foreground and swallows the left object.
        assert plain.bboxes.tolist() == [[20, 50, 26, 56]]
        assert corrected.bboxes.tolist() == [[20, 6, 26, 12], [20, 50, 26, 56]]
        assert measured.column("area").tolist() == [36.0, 36.0]

    def test_input_not_mutated(self):
        img = frame()
        extract_objects(img, ThresholdParams(polarity="dark-on-light"))
        assert np.array_equal(img, frame())

    def test_flat_image_is_refused(self):
        with pytest.raises(FlatImage, match="all pixels are 7"):
            extract_objects(np.full((4, 4), 7, np.uint8))

    def test_bad_pixels_are_named(self):
        with pytest.raises(InvalidParameter, match="pixels has dtype int64"):
            extract_objects(np.zeros((4, 4), np.int64))


class TestExtractionOptions:
    def test_flat_field_is_off_by_default_and_bounded(self):
        assert validate_params(ExtractionOptions, {}).flat_field_sigma is None
        with pytest.raises(InvalidParameter, match="flat_field_sigma=0"):
            validate_params(ExtractionOptions, {"flat_field_sigma": 0})

    def test_extract_uses_the_threshold_without_its_area_filter(self):
        opts = validate_params(ExtractionOptions, {"polarity": "dark-on-light", "min_area": "25"})
        objects, measured = opts.extract(frame())
        assert objects.bboxes.tolist() == [[6, 7, 11, 12]]
        assert measured.column("area").tolist() == [25.0]

    @pytest.mark.parametrize(
        ("values", "named"),
        [
            ({"keep_border": "maybe"}, "keep_border='maybe'"),
            ({"min_area": 5, "max_area": 2}, "max_area=2 is below min_area=5"),
            ({"method": "fixed"}, "method=fixed needs a value"),
            ({"padding": 2}, "padding is not a parameter of this operation"),
        ],
    )
    def test_bad_values_are_named(self, values, named):
        with pytest.raises(InvalidParameter, match=named):
            validate_params(ExtractionOptions, values)
