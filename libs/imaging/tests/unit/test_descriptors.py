"""Feature set 2's descriptors against reference implementations (scikit-image, scipy, plain loops)."""

import math
import time

import cv2
import numpy as np
import pytest
import scipy.stats
import skimage.data
from skimage.feature import graycomatrix, graycoprops
from skimage.feature import local_binary_pattern as skimage_lbp
from skimage.filters import threshold_otsu

from specimen_imaging.descriptors import (
    DESCRIPTOR_NAMES,
    GLCM_LEVELS,
    GROUPS,
    ZERNIKE_ORDERS,
    fourier_descriptors,
    glcm_properties,
    local_binary_pattern,
    zernike_magnitudes,
)
from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SETS, measure_objects
from specimen_imaging.objects import find_objects

ANGLES = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]
PROPS = ("contrast", "dissimilarity", "homogeneity", "ASM", "energy", "correlation")


def coins_objects():
    img = skimage.data.coins()
    return img, find_objects(img > threshold_otsu(img)).labels


def column(measured, name):
    return measured.features[:, FEATURE_NAMES.index(name)]


class TestLocalBinaryPattern:
    @pytest.mark.parametrize("name", ["camera", "coins", "moon"])
    def test_equals_skimage_uniform_8_1(self, name):
        img = getattr(skimage.data, name)()
        ours = local_binary_pattern(img)
        ref = skimage_lbp(img, 8, 1, "uniform")
        assert (ours == ref).mean() >= 0.999  # float rounding of interpolated neighbours only

    @pytest.mark.filterwarnings("ignore:Applying `local_binary_pattern` to floating-point")
    def test_random_float_image(self):
        img = np.random.default_rng(3).random((40, 31))
        np.testing.assert_array_equal(local_binary_pattern(img), skimage_lbp(img, 8, 1, "uniform"))

    def test_object_histogram_matches_skimage_on_whole_image(self):
        img, labels = coins_objects()
        measured = measure_objects(labels, img)
        ref = skimage_lbp(img, 8, 1, "uniform").astype(int)
        for i, label in enumerate(measured.labels[:20]):
            hist = np.bincount(ref[labels == label], minlength=10) / (labels == label).sum()
            ours = [column(measured, f"lbp_{k}")[i] for k in range(10)]
            np.testing.assert_allclose(ours, hist, atol=0.01)


class TestGlcm:
    def test_unmasked_equals_graycoprops(self):
        rng = np.random.default_rng(0)
        levels = rng.integers(0, GLCM_LEVELS, (30, 25))
        matrix = graycomatrix(levels, [1], ANGLES, levels=GLCM_LEVELS, symmetric=True, normed=True)
        ref = [graycoprops(matrix, prop)[0].mean() for prop in PROPS]
        np.testing.assert_allclose(glcm_properties(levels, np.ones(levels.shape, bool)), ref, atol=1e-10)

    def test_masked_equals_graycoprops_of_the_object_pairs(self):
        # Pixels outside the mask get a level of their own (0) whose row and column are dropped:
        # what is left is exactly the co-occurrence of pairs of object pixels.
        rng = np.random.default_rng(1)
        levels = rng.integers(0, GLCM_LEVELS, (40, 40))
        mask = np.zeros(levels.shape, bool)
        cv2.circle(mask.view(np.uint8), (20, 18), 12, 1, -1)
        marked = np.where(mask, levels + 1, 0)
        full = graycomatrix(marked, [1], ANGLES, levels=GLCM_LEVELS + 1, symmetric=True)[1:, 1:].astype(float)
        full /= full.sum(axis=(0, 1), keepdims=True)
        ref = [graycoprops(full, prop)[0].mean() for prop in PROPS]
        np.testing.assert_allclose(glcm_properties(levels, mask), ref, atol=1e-10)

    def test_constant_object_and_no_pair(self):
        assert glcm_properties(np.zeros((5, 5), np.intp), np.ones((5, 5), bool)).tolist() == [
            0,
            0,
            1,
            1,
            1,
            1,
        ]
        one = np.zeros((5, 5), bool)
        one[2, 2] = True
        assert glcm_properties(np.zeros((5, 5), np.intp), one).tolist() == [0.0] * 6


class TestIntensityAndShape:
    def test_intensity_distribution_equals_numpy_and_scipy(self):
        img, labels = coins_objects()
        measured = measure_objects(labels, img)
        varied = [i for i, label in enumerate(measured.labels) if img[labels == label].std() > 0]
        for i in varied[:15]:
            values = img[labels == measured.labels[i]].astype(float)
            expected = [
                *np.percentile(values, [10, 25, 50, 75, 90]),
                scipy.stats.skew(values),
                scipy.stats.kurtosis(values),
            ]
            names = [
                "intensity_p10",
                "intensity_p25",
                "intensity_p50",
                "intensity_p75",
                "intensity_p90",
                "intensity_skewness",
                "intensity_kurtosis",
            ]
            np.testing.assert_allclose(
                [column(measured, n)[i] for n in names], expected, rtol=1e-9, atol=1e-9
            )
            hist = np.histogram(values, bins=32, range=(0, 256))[0]
            p = hist[hist > 0] / values.size
            assert column(measured, "intensity_entropy")[i] == pytest.approx(-(p * np.log2(p)).sum())
        constant = [i for i in range(measured.labels.size) if i not in varied]
        assert column(measured, "intensity_skewness")[constant].tolist() == [0.0] * len(constant)

    def test_background_and_contrast_of_a_dark_disc_on_light(self):
        img = np.full((40, 40), 200, np.uint8)
        labels = np.zeros((40, 40), np.int32)
        cv2.circle(labels, (20, 20), 8, 1, -1)
        img[labels == 1] = 50
        m = measure_objects(labels, img)
        assert column(m, "background_level")[0] == pytest.approx(200 / 255)
        assert column(m, "contrast")[0] == pytest.approx(150 / 255)
        assert column(m, "contrast_ratio")[0] == pytest.approx(150 / 200)

    def test_fourier_descriptors_of_circle_and_ellipse(self):
        def contour(axes):
            canvas = np.zeros((200, 200), np.uint8)
            cv2.ellipse(canvas, (100, 100), axes, 30, 0, 360, 1, -1)
            found, _ = cv2.findContours(canvas, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            return found[0]

        circle, ellipse = fourier_descriptors(contour((60, 60))), fourier_descriptors(contour((80, 20)))
        assert circle[0] < 0.02 and np.all(circle[1:] < 0.02)
        # z = a e^{it} + b e^{-it} has |Z_-1| / |Z_1| = (A - B) / (A + B) = 0.6 for semi-axes A, B;
        # sampled by arc length rather than by t, part of it moves to the odd harmonics.
        assert 0.45 < ellipse[0] < 0.65 and ellipse[2] > 0.05
        turned = fourier_descriptors(np.ascontiguousarray(contour((80, 20))[::-1]))
        np.testing.assert_allclose(turned, ellipse, atol=0.01)  # start point and direction

    def test_zernike_equals_plain_loop_and_is_rotation_invariant(self):
        mask = np.zeros((80, 80), np.uint8)
        cv2.ellipse(mask, (40, 40), (30, 12), 0, 0, 360, 1, -1)
        cv2.circle(mask, (62, 40), 8, 1, -1)
        rows, cols = np.nonzero(mask)
        ours = zernike_magnitudes(rows.astype(float), cols.astype(float))
        dr, dc = rows - rows.mean(), cols - cols.mean()
        rho = np.hypot(dr, dc) / (np.hypot(dr, dc).max() + 0.5)
        theta = np.arctan2(dr, dc)
        for k, (n, m) in enumerate(ZERNIKE_ORDERS):
            radial = sum(
                (-1) ** s
                * math.factorial(n - s)
                / (math.factorial(s) * math.factorial((n + m) // 2 - s) * math.factorial((n - m) // 2 - s))
                * rho ** (n - 2 * s)
                for s in range((n - m) // 2 + 1)
            )
            value = abs((radial * np.exp(-1j * m * theta)).sum()) * (n + 1) / rows.size
            assert ours[k] == pytest.approx(value, rel=1e-9)
        turned = cv2.warpAffine(
            mask, cv2.getRotationMatrix2D((40, 40), 70, 1.0), (80, 80), flags=cv2.INTER_NEAREST
        )
        r2, c2 = np.nonzero(turned)
        np.testing.assert_allclose(
            zernike_magnitudes(r2.astype(float), c2.astype(float)), ours, rtol=0.1, atol=0.01
        )

    def test_skeleton_of_a_cross_has_four_ends_and_a_branch(self):
        labels = np.zeros((60, 60), np.int32)
        labels[29:32, 5:55] = 1
        labels[5:55, 29:32] = 1
        m = measure_objects(labels, np.zeros((60, 60), np.uint8))
        assert column(m, "skeleton_endpoints")[0] == 4
        assert column(m, "skeleton_branch_points")[0] >= 1
        assert 80 <= column(m, "skeleton_length")[0] <= 110

    def test_colour_group_reads_rgb_and_gray_has_no_chroma(self):
        labels = np.zeros((20, 20), np.int32)
        labels[5:15, 5:15] = 1
        rgb = np.zeros((20, 20, 3), np.uint8)
        rgb[labels == 1] = (200, 30, 30)
        red = measure_objects(labels, rgb)
        expected = cv2.cvtColor(np.array([[[200, 30, 30]]], np.float32) / 255, cv2.COLOR_RGB2Lab)[0, 0]
        np.testing.assert_allclose(
            [column(red, n)[0] for n in ("lab_l_mean", "lab_a_mean", "lab_b_mean")], expected, rtol=1e-5
        )
        gray = measure_objects(labels, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        assert [column(gray, n)[0] for n in GROUPS["colour"][1:]] == [0.0] * 5


class TestFeatureSet:
    def test_set_2_is_set_1_then_the_groups(self):
        assert FEATURE_SETS["2"] == (*FEATURE_SETS["1"], *DESCRIPTOR_NAMES)
        img, labels = coins_objects()
        one, two = measure_objects(labels, img, "1"), measure_objects(labels, img, "2")
        np.testing.assert_array_equal(two.features[:, :22], one.features)
        assert np.isfinite(two.features).all() and two.feature_names == FEATURE_SETS["2"]

    def test_cost_per_object_is_a_few_milliseconds(self):
        img, labels = coins_objects()
        measure_objects(labels, img)
        started = time.perf_counter()
        measured = measure_objects(labels, img)
        per_object = (time.perf_counter() - started) / measured.labels.size
        assert per_object < 0.02  # ~1-3 ms measured on 2 shared cores; a wide margin for CI
