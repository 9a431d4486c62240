import numpy as np
import pytest
import skimage.data
from skimage.filters import threshold_otsu
from skimage.measure import regionprops_table

from specimen_imaging.flatfield import flat_field_correct
from specimen_imaging.measurements import (
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    FEATURE_SETS,
    feature_matrix,
    measure_objects,
)
from specimen_imaging.objects import (
    DEFAULT_MAX_OBJECTS,
    TooManyObjects,
    configure_object_limit,
    find_objects,
    object_crop,
)
from specimen_kit.errors import InvalidParameter

_PROPS = {
    "area": "area",
    "perimeter": "perimeter",
    "equivalent_diameter": "equivalent_diameter_area",
    "major_axis_length": "axis_major_length",
    "minor_axis_length": "axis_minor_length",
    "eccentricity": "eccentricity",
    "orientation": "orientation",
    "solidity": "solidity",
    "extent": "extent",
    "feret_diameter_max": "feret_diameter_max",
    "intensity_mean": "intensity_mean",
    "intensity_std": "intensity_std",
    "intensity_min": "intensity_min",
    "intensity_max": "intensity_max",
}


class TestFindObjects:
    def test_nested_object_is_part_of_the_outer_one(self):
        m = np.zeros((8, 8), bool)
        m[1:7, 1:7] = True
        m[2:5, 2:5] = False
        m[3, 3] = True
        objs = find_objects(m)
        assert objs.count == 1 and (objs.labels == 1).sum() == 36
        assert objs.bboxes.tolist() == [[1, 1, 7, 7]]

    def test_border_objects_dropped_on_request(self):
        m = np.zeros((10, 10), bool)
        m[0:3, 0:3] = True
        m[5:8, 5:8] = True
        assert find_objects(m).count == 2
        assert find_objects(m, keep_border=False).bboxes.tolist() == [[5, 5, 8, 8]]

    def test_area_limits(self):
        m = np.zeros((10, 10), bool)
        m[1, 1] = True
        m[5:8, 5:8] = True
        assert find_objects(m, min_area=2).count == 1
        assert find_objects(m, max_area=1).count == 1

    def test_negative_min_area_is_named(self):
        with pytest.raises(InvalidParameter, match="min_area=-1"):
            find_objects(np.zeros((3, 3), bool), min_area=-1)


    def test_a_frame_of_specks_is_refused_before_it_is_measured(self):
        # Issue 9, finding 6: one object per few pixels costs ~200 B each, whatever the pixels.
        specks = np.zeros((20, 20), bool)
        specks[::2, ::2] = True  # 100 isolated pixels
        configure_object_limit(99)
        try:
            with pytest.raises(TooManyObjects, match="100 objects, more than the limit of 99") as err:
                find_objects(specks)
            assert err.value.status == 422
            assert find_objects(specks, min_area=2).count == 0  # the filter counts first
            configure_object_limit(100)
            assert find_objects(specks).count == 100
        finally:
            configure_object_limit(DEFAULT_MAX_OBJECTS)

class TestObjectCrop:
    def test_padding_is_clipped_and_background_faded(self):
        img = np.zeros((5, 5), np.uint8)
        m = np.zeros((5, 5), bool)
        m[0, 0] = True
        crop = object_crop(img, m, (0, 0, 1, 1), padding=1, fade_background=0.5)
        assert crop.shape == (2, 2, 3) and crop[0, 0, 0] == 0 and crop[1, 1, 0] == 128


class TestMeasureObjects:
    def test_feature_definition_is_versioned(self):
        assert FEATURE_SET_VERSION == "2" and FEATURE_SETS["2"] == FEATURE_NAMES
        assert len(FEATURE_SETS["1"]) == 22 and len(FEATURE_NAMES) == 83 == len(set(FEATURE_NAMES))
        # Set 2 keeps set 1's columns first, so a set-2 row carries a set-1 model's features.
        assert FEATURE_NAMES[:22] == FEATURE_SETS["1"]

    def test_six_by_six_square(self):
        lab = np.zeros((8, 8), np.int32)
        lab[1:7, 1:7] = 1
        m = measure_objects(lab, np.full((8, 8), 5, np.uint8))
        assert m.column("area").tolist() == [36.0]
        assert m.bboxes.tolist() == [[1, 1, 7, 7]] and m.centroids.tolist() == [[3.5, 3.5]]
        assert m.column("extent").tolist() == [1.0] and m.column("solidity").tolist() == [1.0]
        assert m.column("intensity_std").tolist() == [0.0]
        assert m.column("feret_diameter_max")[0] == pytest.approx(np.hypot(6, 5))

    def test_input_not_mutated(self):
        lab = np.zeros((8, 8), np.int32)
        lab[1:4, 1:6] = 1
        before = lab.copy()
        feature_matrix(lab, np.zeros((8, 8), np.uint8))
        assert np.array_equal(lab, before)

    @pytest.mark.parametrize("name", ["coins", "cell", "camera"])
    def test_equals_regionprops_on_real_images(self, name):
        img = getattr(skimage.data, name)()
        labels = find_objects(img > threshold_otsu(img)).labels
        ours = measure_objects(labels, img)
        ref = regionprops_table(labels, img, properties=[*_PROPS.values(), "moments_hu", "bbox", "centroid"])
        for feature, prop in _PROPS.items():
            np.testing.assert_allclose(ours.column(feature), ref[prop], rtol=0, atol=1e-6, err_msg=feature)
        for i in range(7):
            np.testing.assert_allclose(ours.column(f"hu_moment_{i + 1}"), ref[f"moments_hu-{i}"], atol=1e-6)
        np.testing.assert_array_equal(ours.bboxes, np.column_stack([ref[f"bbox-{i}"] for i in range(4)]))
        np.testing.assert_allclose(ours.centroids[:, 0], ref["centroid-0"], atol=1e-9)
        perimeter = np.where(ref["perimeter"] > 0, ref["perimeter"], np.inf)
        circ = 4 * np.pi * ref["area"] / perimeter**2  # 0 where skimage's perimeter is 0
        np.testing.assert_allclose(ours.column("circularity"), circ, atol=1e-6)

    def test_touching_labels_measured_separately(self):
        lab = np.zeros((6, 6), np.int32)
        lab[1:5, 1:3] = 1
        lab[1:5, 3:5] = 2
        ref = regionprops_table(lab, properties=["perimeter", "solidity"])
        ours = measure_objects(lab, np.zeros((6, 6), np.uint8))
        np.testing.assert_allclose(ours.column("perimeter"), ref["perimeter"])
        np.testing.assert_allclose(ours.column("solidity"), ref["solidity"])

    @pytest.mark.parametrize("seed", range(4))
    def test_equals_regionprops_on_many_odd_objects_at_once(self, seed):
        # Touching, frame-edge, one-pixel, one-pixel-thick and disconnected labels, all in one
        # batch: the batched hulls must still be counted per object exactly as skimage does.
        rng = np.random.default_rng(seed)
        lab = rng.integers(0, 40, (48, 40)).astype(np.int32)
        lab[rng.random(lab.shape) < 0.5] = 0
        lab[5, :] = 41
        lab[:, 7] = 42
        lab[47, 39] = 43
        gray = rng.integers(0, 256, lab.shape).astype(np.uint8)
        ours = measure_objects(lab, gray)
        ref = regionprops_table(lab, gray, properties=["label", *_PROPS.values()])
        np.testing.assert_array_equal(ours.labels, ref["label"])
        for feature, prop in _PROPS.items():
            np.testing.assert_allclose(ours.column(feature), ref[prop], rtol=0, atol=1e-6, err_msg=feature)


class TestFlatFieldCorrect:
    def test_vignetted_ramp_becomes_flatter_dtype_kept(self):
        ramp = np.tile(np.linspace(100, 200, 32), (32, 1)).astype(np.uint16)
        before = ramp.copy()
        out = flat_field_correct(ramp, sigma=2)
        assert out.dtype == np.uint16 and np.ptp(out) < np.ptp(ramp) / 4
        assert np.array_equal(ramp, before)

    def test_sigma_out_of_range_is_named(self):
        with pytest.raises(InvalidParameter, match="sigma=0"):
            flat_field_correct(np.zeros((4, 4), np.uint8), sigma=0)
