"""The plankton rules: feature contract, unclear rule and threshold choice, rows and frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from specimen_classify.domain.errors import FeatureMismatch
from specimen_classify.domain.plankton.classify import classify_feature_rows, classify_frame, classify_objects
from specimen_classify.domain.plankton.crops import crop_features, crop_groups
from specimen_classify.domain.plankton.features import (
    check_feature_contract,
    check_service_features,
    feature_rows_matrix,
)
from specimen_classify.domain.plankton.segmentation import CROP_SEGMENTATION, PlanktonSegmentation
from specimen_classify.domain.plankton.unclear import categories_of, choose_unclear_threshold, predictions_of
from specimen_classify.domain.predictions import UNCLEAR, ModelVersion, PlanktonPrediction
from specimen_imaging.errors import FlatImage
from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SET_VERSION, FEATURE_SETS
from specimen_imaging.options import validate_params
from specimen_kit.errors import InvalidParameter

AREA = FEATURE_NAMES.index("area")


class AreaModel:
    """A real two-class model: *big* with probability area / (area + 20), else *small*."""

    def __init__(
        self,
        names: tuple[str, ...] = FEATURE_NAMES,
        version: str = FEATURE_SET_VERSION,
        threshold: float = 0.6,
    ) -> None:
        self.version = ModelVersion("plankton", 3)
        self.classes = ("small", "big")
        self.feature_names = names
        self.feature_set_version = version
        self.unclear_threshold = threshold
        self.calls = 0

    def class_probabilities(self, features: np.ndarray) -> np.ndarray:
        self.calls += 1
        area = features[:, self.feature_names.index("area")]
        big = area / (area + 20.0)
        return np.column_stack([1.0 - big, big])


def frame() -> np.ndarray:
    """Light background; dark 2x5 (area 10) and 6x5 (area 30) blocks inside, a 4x4 on the border."""
    img = np.full((20, 24), 210, np.uint8)
    img[3:5, 3:8] = 40
    img[10:16, 12:17] = 30
    img[16:20, 0:4] = 35
    return img


class TestFeatureContract:
    def test_equal_names_order_and_version_pass(self):
        check_feature_contract(list(FEATURE_NAMES), FEATURE_SET_VERSION, AreaModel())

    def test_other_version_is_named_with_the_fix(self):
        with pytest.raises(FeatureMismatch) as caught:
            check_feature_contract(FEATURE_NAMES, "3", AreaModel())
        error = caught.value
        assert error.status == 422 and error.slug == "feature-mismatch"
        assert error.differences == ["feature_set_version is '3', the model's is '2'"]
        assert "Send rows measured with feature set '2'" in error.detail and "retrain" in error.detail
        assert error.extensions["expected_feature_names"] == list(FEATURE_NAMES)

    def test_missing_name_is_named(self):
        names = [n for n in FEATURE_NAMES if n not in ("solidity", "intensity_max")]
        with pytest.raises(FeatureMismatch) as caught:
            check_feature_contract(names, FEATURE_SET_VERSION, AreaModel())
        assert caught.value.differences == ["missing solidity, intensity_max"]

    def test_wrong_order_names_the_first_position(self):
        names = list(FEATURE_NAMES)
        names[1], names[2] = names[2], names[1]
        with pytest.raises(FeatureMismatch) as caught:
            check_feature_contract(names, FEATURE_SET_VERSION, AreaModel())
        assert caught.value.differences == [
            f"the same names in another order: position 1 is {FEATURE_NAMES[2]!r}, "
            f"the model expects {FEATURE_NAMES[1]!r}"
        ]

    def test_unknown_and_repeated_names_with_the_version(self):
        names = [*FEATURE_NAMES, "redness", "area"]
        with pytest.raises(FeatureMismatch) as caught:
            check_feature_contract(names, "0", AreaModel())
        assert caught.value.differences == [
            "feature_set_version is '0', the model's is '2'",
            "not in the model: redness",
            "repeated: area",
        ]

    def test_a_model_of_another_feature_set_cannot_classify_frames(self):
        check_service_features(AreaModel())
        with pytest.raises(FeatureMismatch, match="Retrain the plankton model") as caught:
            check_service_features(AreaModel(version="0"))
        assert caught.value.differences == ["feature_set_version is '2', the model's is '0'"]


class TestUnclearRule:
    def test_top_class_or_unclear_below_the_threshold(self):
        p = np.array([[0.7, 0.3], [0.45, 0.55], [0.5, 0.5]])
        assert predictions_of(p, ["a", "b"], 0.6) == [
            PlanktonPrediction("a", 0.7, {"a": 0.7, "b": 0.3}),
            PlanktonPrediction(UNCLEAR, 0.55, {"a": 0.45, "b": 0.55}),
            PlanktonPrediction(UNCLEAR, 0.5, {"a": 0.5, "b": 0.5}),
        ]

    def test_at_the_threshold_is_confident_and_ties_go_to_the_first_class(self):
        p = np.array([[0.5, 0.5], [0.25, 0.75]])
        assert categories_of(p, ["a", "b"], 0.5) == ["a", "b"]
        assert [x.category for x in predictions_of(p, ["a", "b"], 0.0)] == ["a", "b"]

    def test_bad_shapes_and_thresholds_are_refused(self):
        with pytest.raises(ValueError, match=r"expected \(n, 3\)"):
            predictions_of(np.zeros((2, 2)), ["a", "b", "c"], 0.5)
        with pytest.raises(ValueError, match=r"threshold=1\.5"):
            predictions_of(np.zeros((1, 2)), ["a", "b"], 1.5)


class TestChooseUnclearThreshold:
    P = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])

    def test_lowest_threshold_reaching_the_target_precision(self):
        choice = choose_unclear_threshold(
            self.P, np.array([0, 0, 1, 0]), target_precision=0.9, min_threshold=0.5
        )
        assert (choice.threshold, choice.precision, choice.coverage, choice.target_reached) == (
            0.8,
            1.0,
            0.5,
            True,
        )

    def test_everything_answered_when_validation_is_right_above_the_floor(self):
        choice = choose_unclear_threshold(
            self.P, np.array([0, 0, 0, 0]), target_precision=0.99, min_threshold=0.5
        )
        assert (choice.threshold, choice.precision, choice.coverage) == (0.5, 1.0, 1.0)

    def test_floor_leaves_rows_below_it_unclear(self):
        choice = choose_unclear_threshold(
            self.P, np.array([0, 0, 0, 0]), target_precision=0.5, min_threshold=0.58
        )
        assert (choice.threshold, choice.coverage) == (0.58, 0.75)

    def test_target_out_of_reach_takes_the_best_precision_at_its_lowest_threshold(self):
        choice = choose_unclear_threshold(
            self.P, np.array([1, 0, 0, 1]), target_precision=0.95, min_threshold=0.5
        )
        assert (choice.threshold, choice.precision, choice.coverage, choice.target_reached) == (
            0.6,
            2 / 3,
            0.75,
            False,
        )

    def test_equal_probabilities_are_answered_together(self):
        p = np.array([[0.9, 0.1], [0.7, 0.3], [0.3, 0.7]])
        choice = choose_unclear_threshold(p, np.array([0, 0, 0]), target_precision=0.9, min_threshold=0.5)
        assert (choice.threshold, choice.coverage) == (0.9, 1 / 3)

    def test_bad_inputs_are_refused(self):
        with pytest.raises(ValueError, match="must be"):
            choose_unclear_threshold(np.zeros((0, 2)), np.zeros(0, int))
        with pytest.raises(ValueError, match="target_precision=0"):
            choose_unclear_threshold(self.P, np.zeros(4, int), target_precision=0.0)


class TestFeatureRows:
    def test_objects_in_any_key_order_and_lists(self):
        assert feature_rows_matrix([{"b": 2, "a": 1.5}, [3, 4]], ["a", "b"]).tolist() == [
            [1.5, 2.0],
            [3.0, 4.0],
        ]

    @pytest.mark.parametrize(
        ("row", "named"),
        [
            ({"a": 1}, "row 0 has other features than feature_names: missing b"),
            ({"a": 1, "b": 2, "c": 3}, "unknown c"),
            ({"a": 1, "b": None}, "row 0: b is null; every feature must be a finite number; segment "
                                  "answers null where a value cannot be measured: leave this object out"),
            ({"a": True, "b": 2}, "row 0: a is True"),
            ([1, float("nan")], "row 0: b is nan"),
            ([1, "2"], "row 0: b is '2'"),
            ([1, 2, 3], "row 0 has 3 values; feature_names has 2"),
            ("1,2", "row 0 is a str"),
        ],
    )
    def test_malformed_rows_are_named(self, row, named):
        with pytest.raises(InvalidParameter, match=named.replace("(", r"\(")):
            feature_rows_matrix([row], ["a", "b"])

    def test_row_labels_name_the_rows_in_messages(self):
        with pytest.raises(InvalidParameter, match=r"^object 7: b is null"):
            feature_rows_matrix([{"a": 1, "b": 2}, {"a": 1, "b": None}], ["a", "b"], ["object 3", "object 7"])
        with pytest.raises(ValueError, match="1 row labels for 2 rows"):
            feature_rows_matrix([[1, 2], [3, 4]], ["a", "b"], ["object 3"])

    def test_rows_are_classified_after_the_contract_check(self):
        model = AreaModel()
        rows = [dict.fromkeys(FEATURE_NAMES, 0.0) | {"area": 80.0}, [5.0] * len(FEATURE_NAMES)]
        found = classify_feature_rows(rows, FEATURE_NAMES, FEATURE_SET_VERSION, model)
        assert [(p.category, p.probability) for p in found] == [("big", 0.8), ("small", 0.8)]
        with pytest.raises(FeatureMismatch):
            classify_feature_rows(rows, FEATURE_NAMES, "3", model)
        assert model.calls == 1

    def test_classify_objects_checks_the_matrix_and_skips_the_model_when_empty(self):
        model = AreaModel()
        assert classify_objects(np.zeros((0, len(FEATURE_NAMES))), model) == []
        assert model.calls == 0
        with pytest.raises(InvalidParameter, match=r"shape \(2, 3\)"):
            classify_objects(np.zeros((2, 3)), model)
        bad = np.zeros((2, len(FEATURE_NAMES)))
        bad[1, AREA] = np.inf
        with pytest.raises(InvalidParameter, match="row 1: area is inf"):
            classify_objects(bad, model)


class TestClassifyFrame:
    def test_every_inner_object_with_bbox_features_and_scores(self):
        img = frame()
        found = classify_frame(img, AreaModel(threshold=0.65))
        assert np.array_equal(img, frame())
        assert [(o.object_id, o.bbox, o.features["area"]) for o in found] == [
            (1, (3, 3, 5, 8), 10.0),
            (2, (10, 12, 16, 17), 30.0),
        ]
        assert [(o.category, o.probability) for o in found] == [("small", 1 - 10 / 30), (UNCLEAR, 0.6)]
        assert found[1].scores == {"small": 0.4, "big": 0.6}
        assert found[0].centroid == (3.5, 5.0)
        assert list(found[0].features) == list(FEATURE_NAMES)

    def test_segmentation_options_keep_the_border_object_and_filter_by_area(self):
        options = validate_params(
            PlanktonSegmentation, {"keep_border": True, "min_area": 12, "closing_radius": 0}
        )
        found = classify_frame(frame(), AreaModel(), options)
        assert [(o.bbox, o.features["area"]) for o in found] == [
            ((10, 12, 16, 17), 30.0),
            ((16, 0, 20, 4), 16.0),
        ]

    def test_a_model_of_another_feature_set_is_refused(self):
        with pytest.raises(FeatureMismatch, match="this service's measurements"):
            classify_frame(frame(), AreaModel(version="7"))

    def test_a_flat_frame_is_a_flat_image(self):
        with pytest.raises(FlatImage):
            classify_frame(np.full((8, 8), 200, np.uint8), AreaModel())


class TestPlanktonSegmentation:
    def test_plankton_defaults_with_segments_names(self):
        options = PlanktonSegmentation()
        assert (options.polarity, options.keep_border, options.min_area, options.method) == (
            "dark-on-light",
            False,
            10,
            "otsu",
        )
        assert (CROP_SEGMENTATION.keep_border, CROP_SEGMENTATION.min_area) == (True, 0)

    def test_bad_values_are_named_as_segment_names_them(self):
        with pytest.raises(InvalidParameter, match="closing_radius=-1 is invalid"):
            validate_params(PlanktonSegmentation, {"closing_radius": -1})
        with pytest.raises(InvalidParameter, match="colour is not a parameter"):
            validate_params(PlanktonSegmentation, {"colour": "red"})


class TestCropFeatures:
    def test_the_largest_object_of_the_crop(self):
        crop = np.full((16, 16), 220, np.uint8)
        crop[1:3, 1:3] = 30
        crop[8:14, 8:13] = 40
        row = crop_features(crop)
        assert row is not None and row.shape == (len(FEATURE_NAMES),)
        assert (row[AREA], row[FEATURE_NAMES.index("intensity_mean")]) == (30.0, 40.0)

    def test_an_object_touching_the_crop_edge_is_not_eaten_by_the_closing(self):
        crop = np.full((10, 12), 220, np.uint8)
        crop[0:6, 3:8] = 40
        row = crop_features(crop)
        assert row is not None and row[AREA] == 30.0

    def test_no_object_is_none_and_a_blank_crop_is_flat(self):
        crop = np.full((6, 6), 200, np.uint8)
        crop[2, 2] = 100
        fixed = validate_params(PlanktonSegmentation, {"method": "fixed", "value": 0, "keep_border": True})
        assert crop_features(crop, fixed) is None
        with pytest.raises(FlatImage):
            crop_features(np.full((6, 6), 200, np.uint8))


class TestCropGroups:
    def test_near_hashes_group_only_within_one_size(self):
        hashes = np.zeros((5, 8), np.uint8)
        hashes[1, 0] = 0b11
        hashes[3, 0] = 0b1
        sizes = [(5, 5), (5, 5), (6, 5), (6, 5), (5, 5)]
        assert crop_groups(hashes, sizes, max_distance=1).tolist() == [0, 1, 2, 2, 0]
        assert crop_groups(hashes, sizes, max_distance=2).tolist() == [0, 0, 1, 1, 0]

    def test_sizes_must_match_the_hashes(self):
        with pytest.raises(ValueError, match="same crops"):
            crop_groups(np.zeros((2, 8), np.uint8), [(1, 1)])


class TestFeatureSetOne:
    """A model trained on feature set 1 is still served, given set 1 features."""

    def model(self) -> AreaModel:
        return AreaModel(names=FEATURE_SETS["1"], version="1")

    def test_a_frame_is_measured_with_the_models_set(self):
        found = classify_frame(frame(), self.model())
        assert found and all(list(o.features) == list(FEATURE_SETS["1"]) for o in found)

    def test_rows_of_the_current_set_are_read_in_the_models_columns(self):
        # Segment answers set 2; set 2 holds set 1's columns with the same definitions.
        model = self.model()
        rows = [dict.fromkeys(FEATURE_NAMES, 0.0) | {"area": 80.0}]
        (prediction,) = classify_feature_rows(rows, FEATURE_NAMES, FEATURE_SET_VERSION, model)
        assert prediction.scores["big"] == pytest.approx(0.8)

    def test_rows_of_set_1_still_refused_by_a_set_2_model(self):
        with pytest.raises(FeatureMismatch, match="feature_set_version is '1', the model's is '2'"):
            classify_feature_rows([[1.0] * 22], FEATURE_SETS["1"], "1", AreaModel())


class TestCropObject:
    def test_bright_on_dark_crop_is_measured_as_its_inverse(self):
        from specimen_classify.domain.plankton.crops import crop_object

        dark = np.full((60, 60), 230, np.uint8)
        cv2.circle(dark, (30, 30), 12, 40, -1)
        bright = 255 - dark
        a, b = crop_object(dark), crop_object(bright)
        assert a is not None and b is not None and b.bright_on_dark and not a.bright_on_dark
        np.testing.assert_allclose(a.features, b.features)

    def test_scale_bar_and_tilted_background_do_not_become_the_object(self):
        from specimen_classify.domain.plankton.crops import crop_object

        _rows, cols = np.mgrid[0:120, 0:160]
        crop = (150 + 0.5 * cols).astype(np.uint8)  # a tilt of 80 gray levels across the crop
        cv2.ellipse(crop, (80, 55), (20, 10), 0, 0, 360, 60, -1)
        crop[110:113, 5:90] = 20  # a long scale bar, larger than the organism
        found = crop_object(crop)
        assert found is not None
        r0, c0, r1, c1 = found.bbox
        assert (r0, c0) == pytest.approx((45, 60), abs=2) and (r1, c1) == pytest.approx((66, 101), abs=2)

    def test_a_translucent_body_is_kept_whole_not_just_its_dark_inclusion(self):
        # Regression (issue 11): Otsu's threshold split such a crop at the inclusion and the
        # forest measured a small dark blob instead of the cell (Otsu's box: rows 52-73).
        from specimen_classify.domain.plankton.crops import background_threshold, crop_object

        crop = np.full((120, 120), 210, np.uint8)
        cv2.circle(crop, (60, 60), 40, 175, -1)  # a pale body, 35 gray levels below the background
        cv2.circle(crop, (60, 60), 40, 150, 2)  # its darker wall
        cv2.ellipse(crop, (55, 62), (14, 8), 30, 0, 360, 25, -1)  # a dark inclusion
        found = crop_object(crop)

        assert background_threshold(crop, 0) == 173.0  # 210 - 0.2 * (210 - 25)
        assert found is not None
        assert found.bbox == pytest.approx((19, 19, 102, 102), abs=1)

    def test_a_noisy_crop_without_an_object_falls_back_to_otsu(self):
        from specimen_classify.domain.plankton.crops import background_threshold

        noise = np.random.default_rng(0).normal(128, 20, (60, 60)).clip(0, 255).astype(np.uint8)

        assert background_threshold(noise, 0) is None

    def test_a_generated_vignette_keeps_its_organism(self):
        from specimen_classify.domain.plankton.crops import crop_object
        from specimen_classify.domain.synthetic_plankton import plankton_vignette

        v = plankton_vignette(3, "cylindrical fecal pellets")
        found = crop_object(v.image)
        rows, cols = np.nonzero(v.mask)
        assert found is not None
        assert found.bbox[0] <= rows.mean() <= found.bbox[2] and found.bbox[1] <= cols.mean() <= found.bbox[3]
