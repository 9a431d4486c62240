"""Hysteresis thresholding (issue 12: the faint strands of an aggregate broke off under Otsu)."""

import numpy as np
import pytest

from specimen_imaging.extraction import extract_objects
from specimen_imaging.options import ExtractionOptions
from specimen_imaging.thresholding import (
    ThresholdParams,
    background_noise,
    hysteresis_level,
    threshold_only,
)
from specimen_kit.errors import InvalidParameter


def _frame() -> np.ndarray:
    """A light noisy background (200 ± 3), a dark body with a faint strand, a faint speck."""
    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(200, 3, (120, 160)), 0, 255)
    frame[40:60, 40:60] = 60  # the body: past Otsu's threshold
    frame[49:51, 60:100] = 170  # its strand: 10 noise deviations below the background, above Otsu
    frame[90:94, 120:124] = 170  # a faint speck alone
    return np.rint(frame).astype(np.uint8)


def test_background_noise_is_the_median_and_its_robust_deviation():
    rng = np.random.default_rng(1)
    gray = np.clip(np.rint(rng.normal(150, 4, (400, 400))), 0, 255).astype(np.uint8)
    gray[:40] = 10  # 10 % dark objects change neither much
    median, noise = background_noise(gray)
    assert median == pytest.approx(float(np.median(gray)), abs=0)
    assert noise == pytest.approx(4.0 * 1.05, rel=0.15)
    flat = np.full((10, 10), 7, np.uint8)
    assert background_noise(flat) == (7.0, 1.4826)  # never less than one gray level
    wide = (np.arange(10_000, dtype=np.uint16) * 6).reshape(100, 100)
    assert background_noise(wide)[0] == float(np.sort(wide.ravel())[(wide.size - 1) // 2])


def test_the_weak_level_never_passes_the_threshold():
    gray = _frame()
    median, noise = background_noise(gray)
    assert hysteresis_level(gray, 120.0, 5.0, "dark-on-light") == median - 5 * noise
    assert hysteresis_level(gray, 199.0, 5.0, "dark-on-light") == 199.0
    assert hysteresis_level(gray, 250.0, 5.0, "light-on-dark") == median + 5 * noise
    assert hysteresis_level(gray, 100.0, 5.0, "light-on-dark") == 100.0


def test_the_strand_stays_attached_and_the_lone_speck_is_not_an_object():
    params = ThresholdParams(polarity="dark-on-light")
    plain, _ = extract_objects(_frame(), params)
    assert plain.bboxes.tolist() == [[40, 40, 60, 60]]  # Otsu alone: the strand is lost
    found, measured = extract_objects(_frame(), params, hysteresis_sigmas=5.0)
    assert found.bboxes.tolist() == [[40, 40, 60, 100]]
    assert measured.column("area").tolist() == [400.0 + 80.0]
    mask, t, seeds = threshold_only(_frame(), params, hysteresis_sigmas=5.0)
    assert seeds is not None and mask[91, 121] and not seeds[91, 121]
    assert np.array_equal(seeds, _frame() <= t)


def test_bright_objects_on_a_dark_background_too():
    inverted = 255 - _frame()
    found, _ = extract_objects(inverted, ThresholdParams(), hysteresis_sigmas=5.0)
    assert found.bboxes.tolist() == [[40, 40, 60, 100]]


def test_options_carry_it_and_refuse_nonsense():
    options = ExtractionOptions(polarity="dark-on-light", hysteresis_sigmas=5)
    assert options.extract(_frame())[0].bboxes.tolist() == [[40, 40, 60, 100]]
    assert ExtractionOptions().hysteresis_sigmas is None
    with pytest.raises(ValueError):
        ExtractionOptions(hysteresis_sigmas=0)
    with pytest.raises(InvalidParameter):
        threshold_only(_frame(), ThresholdParams(), hysteresis_sigmas=float("nan"))
    with pytest.raises(InvalidParameter, match="area"):
        extract_objects(_frame(), ThresholdParams(min_area=5), hysteresis_sigmas=5.0)
