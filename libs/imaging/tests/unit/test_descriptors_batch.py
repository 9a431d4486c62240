"""The batched descriptors (one mosaic for a frame's objects) give the reference's rows.

``describe_objects`` (object by object) is the definition; ``describe_objects_batch`` must agree
with it within float rounding on many random objects: blobs, rings, thin lines, single pixels,
objects at the frame's border, touching boxes, gray and colour, uint8, uint16 and float.
"""

import cv2
import numpy as np
import pytest
import skimage.data

from specimen_imaging import descriptors
from specimen_imaging.arrays import to_gray
from specimen_imaging.descriptors import DESCRIPTOR_NAMES, describe_objects, fourier_descriptors
from specimen_imaging.descriptors_batch import (
    BATCHED_GROUPS,
    batch_supported,
    describe_objects_batch,
    fourier_rows,
    local_binary_pattern_at,
)
from specimen_imaging.measurements import measure_objects
from specimen_imaging.objects import find_objects


def random_scene(seed, size=256, count=40):
    """Random shapes on a noisy background: ellipses, rings, strokes and specks."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(count):
        kind = rng.integers(4)
        cy, cx = (int(v) for v in rng.integers(0, size, 2))
        if kind == 0:
            axes = (int(rng.integers(1, 25)), int(rng.integers(1, 25)))
            cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        elif kind == 1:
            cv2.circle(mask, (cx, cy), int(rng.integers(4, 20)), 1, int(rng.integers(1, 4)))
        elif kind == 2:
            end = (int(cx + rng.integers(-40, 40)), int(cy + rng.integers(-40, 40)))
            cv2.line(mask, (cx, cy), end, 1, int(rng.integers(1, 3)))
        else:
            mask[cy, cx] = 1
    gray = rng.normal(180, 20, (size, size))
    gray[mask > 0] = rng.normal(70, 30, int(mask.sum()))
    return mask.astype(bool), gray


def assert_same_rows(labels, intensity):
    color = intensity if intensity.ndim == 3 else None
    gray = to_gray(intensity) if intensity.ndim == 3 else intensity
    measured = measure_objects(labels, intensity, "1")
    expected = describe_objects(labels, measured.labels, measured.bboxes, gray, color)
    got = describe_objects_batch(labels, measured.labels, measured.bboxes, gray, color)
    assert got.shape == expected.shape == (measured.labels.size, len(DESCRIPTOR_NAMES))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    return measured.labels.size


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
def test_random_gray_objects_match_the_reference(seed, dtype):
    mask, gray = random_scene(seed)
    objects = find_objects(mask)  # border objects kept: their grown boxes are clipped
    if dtype is np.float64:
        pixels = np.clip(gray / 255.0, 0, 1)
    else:
        top = np.iinfo(dtype).max
        pixels = np.clip(gray / 255.0 * top, 0, top).astype(dtype)
    assert assert_same_rows(objects.labels, pixels) > 10


@pytest.mark.parametrize("seed", range(3))
def test_random_colour_objects_match_the_reference(seed):
    mask, gray = random_scene(100 + seed)
    rng = np.random.default_rng(seed)
    rgb = np.clip(gray[:, :, None] + rng.normal(0, 25, (*gray.shape, 3)), 0, 255).astype(np.uint8)
    assert assert_same_rows(find_objects(mask).labels, rgb) > 10


def test_coins_match_the_reference():
    coins = skimage.data.coins()
    objects = find_objects(coins > 120, min_area=5)
    assert assert_same_rows(objects.labels, coins) > 10


def test_a_box_read_at_a_step_goes_to_the_reference(monkeypatch):
    monkeypatch.setattr(descriptors, "MAX_PATCH_PIXELS", 400)
    mask, gray = random_scene(7)
    assert assert_same_rows(find_objects(mask).labels, gray.astype(np.uint8)) > 10


def test_no_objects_give_no_rows():
    labels = np.zeros((8, 8), np.int32)
    got = describe_objects_batch(labels, np.zeros(0, np.int64), np.zeros((0, 4), np.int64),
                                 np.zeros((8, 8), np.uint8), None)
    assert got.shape == (0, len(DESCRIPTOR_NAMES))


def test_a_changed_reference_group_falls_back_to_the_reference(monkeypatch):
    """When the definition's groups change (another feature set), the batch path steps aside."""
    assert batch_supported()
    changed = {**BATCHED_GROUPS, "texture": (*BATCHED_GROUPS["texture"], "glcm_new")}
    monkeypatch.setattr(descriptors, "GROUPS", changed)
    assert not batch_supported()
    calls = []
    real = descriptors.describe_objects
    monkeypatch.setattr(descriptors, "describe_objects", lambda *a: calls.append(1) or real(*a))
    mask, gray = random_scene(3)
    objects = find_objects(mask)
    measured = measure_objects(objects.labels, gray.astype(np.uint8), "1")
    describe_objects_batch(objects.labels, measured.labels, measured.bboxes, gray.astype(np.uint8), None)
    assert calls == [1]


def test_objects_split_over_several_mosaics_give_the_same_rows(monkeypatch):
    """Many large boxes are described a bounded mosaic at a time (memory like the reference's)."""
    from specimen_imaging import descriptors_batch

    monkeypatch.setattr(descriptors_batch, "MOSAIC_PIXELS", 600)
    mask, gray = random_scene(11)
    assert assert_same_rows(find_objects(mask).labels, gray.astype(np.uint8)) > 10


def _contours_of_random_masks(seed: int) -> list:
    rng = np.random.default_rng(seed)
    contours: list = [None]
    for _ in range(120):
        size = int(rng.integers(1, 70))
        mask = (rng.random((size, size)) > rng.uniform(0.2, 0.97)).astype(np.uint8)
        if rng.random() < 0.6:
            mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        found, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        contours.extend(np.asarray(c, np.int32) for c in found[:3])
    # Short ones, a line (there and back), a repeated point (np.interp's ambiguous case).
    contours += [np.array([[[0, 0]]], np.int32), np.array([[[0, 0]], [[1, 0]]], np.int32),
                 np.array([[[0, 0]], [[1, 0]], [[2, 0]], [[1, 0]]], np.int32),
                 np.array([[[0, 0]], [[1, 0]], [[1, 0]], [[1, 1]], [[0, 1]]], np.int32),
                 np.array([[[3, 3]], [[3, 3]], [[3, 3]]], np.int32)]
    return contours


@pytest.mark.parametrize("seed", range(4))
def test_fourier_rows_are_the_reference_bit_for_bit(seed):
    contours = _contours_of_random_masks(seed)
    got = fourier_rows(contours)
    expected = np.array([fourier_descriptors(c) for c in contours])
    assert np.array_equal(got, expected)
    assert fourier_rows([]).shape == (0, 7)
    assert fourier_rows([None, None]).tolist() == [[0.0] * 7] * 2


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
def test_lbp_at_some_pixels_is_the_whole_images_bit_for_bit(dtype):
    rng = np.random.default_rng(3)
    gray = rng.integers(0, 256, (40, 50)).astype(dtype)
    gray[10:20, 10:30] = 7  # flat patches: ties between a sample and its centre
    inside = np.zeros(gray.shape, bool)
    inside[1:-1, 1:-1] = rng.random((38, 48)) < 0.4
    at = np.flatnonzero(inside)
    expected = descriptors.local_binary_pattern(gray).ravel()[at]
    assert np.array_equal(local_binary_pattern_at(gray, at), expected)


def test_zernike_of_large_objects_match_the_reference():
    """The Zernike orders are combined from per-object moments (sums of powers of rho): on large
    objects, where the radial polynomials' terms cancel most, they stay within 1e-12 of the
    reference's per-pixel polynomials."""
    size = 420
    mask = np.zeros((size, size), np.uint8)
    cv2.circle(mask, (100, 100), 90, 1, -1)
    cv2.ellipse(mask, (300, 290), (110, 40), 30.0, 0, 360, 1, -1)
    cv2.rectangle(mask, (220, 20), (400, 120), 1, -1)
    cv2.circle(mask, (90, 320), 60, 1, 5)
    objects = find_objects(mask.astype(bool))
    gray = np.where(mask > 0, 60, 200).astype(np.uint8)
    got = describe_objects_batch(objects.labels, np.arange(1, objects.count + 1), objects.bboxes, gray, None)
    columns = [DESCRIPTOR_NAMES.index(f"zernike_{n}_{m}") for n, m in descriptors.ZERNIKE_ORDERS]
    for k in range(objects.count):
        rows, cols = np.nonzero(objects.labels == k + 1)
        expected = descriptors.zernike_magnitudes(rows.astype(np.float64), cols.astype(np.float64))
        np.testing.assert_allclose(got[k, columns], expected, rtol=1e-12, atol=1e-12)
