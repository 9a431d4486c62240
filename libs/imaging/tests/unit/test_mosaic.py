"""Shelf packing (``specimen_imaging.mosaic``), shared by the measurements, the batched
descriptors and classify's object descriptors: boxes inside the mosaic, ``gap`` apart."""

import doctest

import numpy as np
import pytest

from specimen_imaging import mosaic
from specimen_imaging.mosaic import shelf_layout


def test_doctest():
    assert doctest.testmod(mosaic).failed == 0


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("gap", [0, 2, 8])
def test_boxes_lie_inside_and_gap_apart(seed, gap):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    heights = rng.integers(1, 80, n).tolist()
    widths = rng.integers(1, 80, n).tolist()
    corners, height, width = shelf_layout(heights, widths, gap)
    taken = np.zeros((height + gap, width + gap), np.int32)
    for (y, x), h, w in zip(corners, heights, widths, strict=True):
        assert y >= gap and x >= gap and y + h + gap <= height and x + w + gap <= width
        # Each box grown by the gap on its right and bottom overlaps no other box.
        taken[y:y + h + gap, x:x + w + gap] += 1
    assert taken.max() == 1
