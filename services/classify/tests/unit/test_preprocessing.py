"""brain_crop: the reference MRI preprocessing, on synthetic slices with known geometry.

Crop-box tolerance: the 5x5 Gaussian blur spreads a 200-gray disc about one resized pixel past
its edge above the threshold 45, and the erode/dilate opening gives that back only partly, so
the box found at 256 is the shape's own box grown by one pixel on each side. Mapping back to
the original rounds outward, so in original pixels the box always contains the shape and
exceeds it on each side by at most ceil(scale) + 1 pixels (scale = original / 256 per axis).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from specimen_classify.domain.errors import InvalidImage, NoBrainFound
from specimen_classify.domain.preprocessing import (
    INPUT_SIZE,
    TARGET_SIZE,
    THRESHOLD,
    BrainCrop,
    brain_crop,
    gray_uint8,
)


def _ellipse(
    height: int, width: int, center: tuple[int, int], axes: tuple[int, int], value: int = 200
) -> np.ndarray:
    img = np.zeros((height, width), np.uint8)
    cv2.ellipse(img, center, axes, 0, 0, 360, value, thickness=-1)
    return img


def _box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_crop_box_is_the_ellipse_extreme_points_grown_by_the_blur_at_256() -> None:
    img = _ellipse(256, 256, (120, 140), (70, 50))
    x0, y0, x1, y1 = _box_of(img)
    assert (x0, y0, x1, y1) == (50, 90, 191, 191)

    crop = brain_crop(img)

    assert crop.crop_box == (y0 - 1, x0 - 1, y1 + 1, x1 + 1)
    assert crop.crop_box_256 == crop.crop_box
    assert crop.scale == (1.0, 1.0)


@pytest.mark.parametrize(
    ("height", "width", "center", "axes"),
    [
        (512, 512, (240, 260), (150, 100)),
        (300, 500, (260, 140), (150, 90)),
        (600, 200, (100, 300), (70, 200)),
        (128, 128, (60, 70), (35, 25)),
        (181, 217, (100, 95), (60, 70)),
    ],
)
def test_crop_box_maps_back_to_original_pixels_of_any_size(
    height: int, width: int, center: tuple[int, int], axes: tuple[int, int]
) -> None:
    img = _ellipse(height, width, center, axes)
    expected = _box_of(img)

    crop = brain_crop(img)

    sx, sy = width / TARGET_SIZE, height / TARGET_SIZE
    assert crop.scale == (sx, sy)
    y0, x0, y1, x1 = crop.crop_box
    ex0, ey0, ex1, ey1 = expected
    slack_x, slack_y = math.ceil(sx) + 1, math.ceil(sy) + 1
    assert 0 <= ex0 - x0 <= slack_x
    assert 0 <= ey0 - y0 <= slack_y
    assert 0 <= x1 - ex1 <= slack_x
    assert 0 <= y1 - ey1 <= slack_y
    assert 0 <= x0 < x1 <= width
    assert 0 <= y0 < y1 <= height


def test_output_is_float32_32x32_in_unit_range_and_bright_where_the_brain_is() -> None:
    img = _ellipse(256, 256, (128, 128), (100, 80))

    crop = brain_crop(img)

    assert isinstance(crop, BrainCrop)
    assert crop.input_32.shape == (INPUT_SIZE, INPUT_SIZE)
    assert crop.input_32.dtype == np.float32
    assert float(crop.input_32.min()) >= 0.0
    assert float(crop.input_32.max()) <= 1.0
    # The crop is the ellipse's box, so its centre is pure ellipse: 200 / 255.
    assert crop.input_32[16, 16] == pytest.approx(200 / 255, abs=1e-6)
    # Corners of the box lie outside the ellipse.
    assert crop.input_32[0, 0] == pytest.approx(0.0, abs=1e-6)


def test_a_full_white_uint8_slice_keeps_the_range_1() -> None:
    img = _ellipse(256, 256, (128, 128), (100, 80), value=255)

    crop = brain_crop(img)

    assert float(crop.input_32.max()) == 1.0


def test_the_largest_region_wins_over_a_smaller_one() -> None:
    img = _ellipse(256, 256, (80, 80), (50, 40))
    cv2.circle(img, (210, 210), 20, 200, thickness=-1)

    crop = brain_crop(img)

    assert crop.crop_box == (39, 29, 122, 132)


def test_input_is_not_mutated() -> None:
    img = _ellipse(300, 400, (200, 150), (120, 90))
    before = img.copy()

    brain_crop(img)

    np.testing.assert_array_equal(img, before)


def test_read_only_input_is_accepted() -> None:
    img = _ellipse(256, 256, (128, 128), (60, 60))
    img.flags.writeable = False

    assert brain_crop(img).input_32.shape == (INPUT_SIZE, INPUT_SIZE)


def test_rgb_input_gives_the_same_result_as_its_gray() -> None:
    gray = _ellipse(256, 256, (120, 140), (70, 50))
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    rgba = np.dstack([rgb, np.full(gray.shape, 255, np.uint8)])
    before = rgb.copy()

    from_gray, from_rgb, from_rgba = brain_crop(gray), brain_crop(rgb), brain_crop(rgba)

    assert from_rgb.crop_box == from_gray.crop_box == from_rgba.crop_box
    np.testing.assert_array_equal(from_rgb.input_32, from_gray.input_32)
    np.testing.assert_array_equal(from_rgba.input_32, from_gray.input_32)
    np.testing.assert_array_equal(rgb, before)


def test_uint16_input_is_stretched_by_its_range() -> None:
    gray8 = _ellipse(256, 256, (120, 140), (70, 50), value=255)
    gray16 = gray8.astype(np.uint16) * 12 + 1000  # 1000..4060, as a scanner might store it
    before = gray16.copy()

    from16, from8 = brain_crop(gray16), brain_crop(gray8)

    assert from16.crop_box == from8.crop_box
    np.testing.assert_array_equal(from16.input_32, from8.input_32)
    np.testing.assert_array_equal(gray16, before)


def test_gray_uint8_stretches_uint16_and_copies_uint8() -> None:
    assert gray_uint8(np.array([[0, 500, 1000]], np.uint16)).tolist() == [[0, 128, 255]]
    assert gray_uint8(np.full((2, 2), 7, np.uint16)).tolist() == [[0, 0], [0, 0]]
    src = np.array([[1, 2]], np.uint8)
    out = gray_uint8(src)
    out[0, 0] = 9
    assert src[0, 0] == 1


@pytest.mark.parametrize("value", [0, 120, 255])
def test_a_flat_slice_has_no_brain(value: int) -> None:
    with pytest.raises(NoBrainFound) as err:
        brain_crop(np.full((200, 200), value, np.uint8))

    assert err.value.status == 422
    assert "flat" in err.value.reason
    assert str(value) in err.value.reason


def test_a_dark_slice_has_no_brain_and_says_the_threshold() -> None:
    img = _ellipse(256, 256, (128, 128), (80, 80), value=THRESHOLD - 5)

    with pytest.raises(NoBrainFound) as err:
        brain_crop(img)

    assert f"threshold {THRESHOLD}" in err.value.reason


def test_specks_alone_are_no_brain() -> None:
    img = np.zeros((256, 256), np.uint8)
    for y in range(8, 248, 24):
        for x in range(8, 248, 24):
            img[y : y + 3, x : x + 3] = 255

    with pytest.raises(NoBrainFound) as err:
        brain_crop(img)

    assert "specks" in err.value.reason


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((10, 10), np.float32), "uint8 or uint16"),
        (np.zeros((10, 10), np.int16), "uint8 or uint16"),
        (np.zeros((10, 10), bool), "uint8 or uint16"),
        (np.zeros((10,), np.uint8), "gray (h, w)"),
        (np.zeros((10, 10, 2), np.uint8), "gray (h, w)"),
        (np.zeros((2, 10, 10, 3), np.uint8), "gray (h, w)"),
        (np.zeros((0, 10), np.uint8), "empty"),
        ([[0, 1], [2, 3]], "numpy array"),
    ],
)
def test_invalid_arrays_are_refused_before_any_work(array: object, message: str) -> None:
    with pytest.raises(InvalidImage) as err:
        brain_crop(array)  # type: ignore[arg-type]

    assert err.value.status == 422
    assert message in err.value.detail


def test_the_same_slice_gives_the_same_answer() -> None:
    img = _ellipse(320, 240, (120, 170), (90, 110))

    first, second = brain_crop(img), brain_crop(img)

    assert first.crop_box == second.crop_box
    np.testing.assert_array_equal(first.input_32, second.input_32)
