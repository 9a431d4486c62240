from __future__ import annotations

import cv2
import numpy as np
import pytest

from specimen_imaging.flatfield import flat_field_correct


def _vignetted_frame(side: int) -> np.ndarray:
    """A light frame darkening towards its corners, with dark specks on it."""
    yy, xx = np.mgrid[:side, :side] / side - 0.5
    frame = 220 - 90 * (xx**2 + yy**2)
    rng = np.random.default_rng(0)
    for row, col in rng.integers(20, side - 20, (60, 2)):
        cv2.circle(frame, (int(col), int(row)), 6, 60, -1)
    return np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)


class TestFlatFieldCorrect:
    @pytest.mark.parametrize("sigma", [8.0, 32.0, 50.0, 120.0])
    def test_the_shrunk_background_blur_stays_within_about_one_percent_of_the_full_one(
        self, sigma: float
    ) -> None:
        frame = _vignetted_frame(512)
        pixels = frame.astype(np.float32)
        full = cv2.GaussianBlur(pixels, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        expected = np.clip(np.rint(pixels / full * full.mean()), 0, 255)

        corrected = flat_field_correct(frame, sigma=sigma).astype(np.float64)

        assert np.abs(corrected - expected).max() <= 0.015 * 255
        assert np.abs(corrected - expected).mean() < 0.5

    def test_a_vignetted_background_becomes_even(self) -> None:
        frame = _vignetted_frame(512)
        background = frame > 150

        corrected = flat_field_correct(frame, sigma=32.0)

        assert np.ptp(frame[background].astype(int)) > 40
        assert corrected[background].std() < frame[background].std() / 2

    def test_small_images_and_small_sigmas_use_the_full_size_blur(self) -> None:
        ramp = np.tile(np.linspace(100, 200, 24), (24, 1)).astype(np.uint8)
        pixels = ramp.astype(np.float32)
        full = cv2.GaussianBlur(pixels, (0, 0), 40.0, borderType=cv2.BORDER_REFLECT)

        corrected = flat_field_correct(ramp, sigma=40.0)

        expected = np.clip(np.rint(pixels / full * full.mean()), 0, 255).astype(np.uint8)
        assert np.array_equal(corrected, expected)


def test_the_in_place_correction_equals_the_formula_bit_for_bit() -> None:
    """Issue 9, finding 6: computed in place to save full-size copies, with the same results."""
    from specimen_imaging.flatfield import _background

    rng = np.random.default_rng(3)
    for image in (rng.integers(0, 256, (90, 120, 3), dtype=np.uint8),
                  rng.integers(0, 65536, (90, 120), dtype=np.uint16)):
        pixels = image.astype(np.float32)
        background = _background(pixels, 20.0).reshape(pixels.shape)
        level = background.reshape(-1, 1 if pixels.ndim == 2 else 3).mean(axis=0)
        expected = pixels / np.maximum(background, np.float32(1e-6)) * level.astype(np.float32)
        top = float(np.iinfo(image.dtype).max)
        expected = np.clip(np.rint(expected), 0, top).astype(image.dtype)
        assert np.array_equal(flat_field_correct(image, 20.0), expected)


def test_8_bit_frames_round_half_to_even_and_saturate_as_numpy() -> None:
    """The uint8 path's one OpenCV conversion (issue 12's frames per core) is np.rint, clip and
    astype: ties go to the even neighbour, and above 255 saturates."""
    values = np.array([[0.0, 0.5, 1.5, 2.5, 127.5, 128.49999, 254.5, 255.0, 255.5, 300.0, 1e9, 1e-30]],
                      np.float32)
    expected = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    assert np.array_equal(cv2.convertScaleAbs(values), expected)
    gray = np.random.default_rng(5).integers(0, 256, (70, 80), dtype=np.uint8)
    gray[:20] = 255
    gray[50:] = 0
    pixels = gray.astype(np.float32)
    from specimen_imaging.flatfield import _background

    background = _background(pixels, 9.0)
    formula = pixels / np.maximum(background, np.float32(1e-6)) * np.float32(background.mean())
    assert np.array_equal(flat_field_correct(gray, 9.0), np.clip(np.rint(formula), 0, 255).astype(np.uint8))
