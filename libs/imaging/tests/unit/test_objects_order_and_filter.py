"""Object numbering follows the first pixel's raster order; the no-op area filter keeps the mask.

Found while speeding up issue 12's frame pipeline: OpenCV's default labelling numbers objects in
2x2-block order, so an object starting on row 1 was numbered before one starting further right on
row 0 (3 of the 8 bench frames had objects out of the documented order).
"""

import cv2
import numpy as np

from specimen_imaging.objects import find_objects
from specimen_imaging.thresholding import fill_holes, filter_by_area


def raster_order_labels(mask, min_area=1, keep_border=True):
    """The documented numbering, spelled out: objects in raster order of their first pixel."""
    h, w = mask.shape
    _, lab, stats, _ = cv2.connectedComponentsWithStats(fill_holes(mask).view(np.uint8), connectivity=8)
    flat = lab.ravel()
    pixels = np.flatnonzero(flat)
    ids, first = np.unique(flat[pixels], return_index=True)
    out = np.zeros(lab.shape, np.int32)
    number = 0
    for k in ids[np.argsort(pixels[first])]:
        x, y, bw, bh, area = stats[k]
        if area < min_area or (not keep_border and not (x > 0 and y > 0 and x + bw < w and y + bh < h)):
            continue
        number += 1
        out[lab == k] = number
    return out


def test_an_object_on_row_0_comes_before_one_starting_on_row_1():
    mask = np.zeros((6, 10), bool)
    mask[0, 6] = True
    mask[1, 1] = True
    labels = find_objects(mask).labels
    assert labels[0, 6] == 1 and labels[1, 1] == 2


def test_random_masks_are_numbered_in_raster_order():
    rng = np.random.default_rng(0)
    for _ in range(150):
        mask = rng.random((int(rng.integers(1, 50)), int(rng.integers(1, 50)))) < rng.uniform(0.05, 0.7)
        for min_area, keep_border in ((1, True), (3, False)):
            found = find_objects(mask, min_area=min_area, keep_border=keep_border)
            expected = raster_order_labels(mask, min_area, keep_border)
            np.testing.assert_array_equal(found.labels, expected)
            assert found.count == int(expected.max())
            for i, (r0, c0, r1, c1) in enumerate(found.bboxes.tolist(), start=1):
                rows, cols = np.nonzero(expected == i)
                assert (r0, c0, r1, c1) == (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)


def test_the_no_op_area_filter_returns_a_copy_and_the_count():
    rng = np.random.default_rng(1)
    mask = rng.random((40, 40)) < 0.3
    kept, count = filter_by_area(mask, 0, None)
    assert kept is not mask and kept.dtype == bool
    np.testing.assert_array_equal(kept, mask)
    assert count == cv2.connectedComponents(mask.view(np.uint8), connectivity=8)[0] - 1
    assert filter_by_area(mask, 1, None)[1] == count
    assert filter_by_area(mask, 2, None)[1] < count
