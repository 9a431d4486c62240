"""Reading the objects' boxes instead of the frame (issue 12's frames per core): measure_objects
given find_objects' boxes (copied into one mosaic) and find_objects' box-by-box renumbering give
the full frame's values, bit for bit."""

import cv2
import numpy as np
import pytest

from specimen_imaging import objects as objects_module
from specimen_imaging.measurements import measure_objects
from specimen_imaging.objects import find_objects


def _frame(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(20, 260, 2))
    mask = rng.random((h, w)) > rng.uniform(0.55, 0.97)
    mask = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    mask &= rng.random((h, w)) > 0.15  # ragged edges, holes, diagonal-only contacts
    dtype = rng.choice([np.uint8, np.uint16])
    top = np.iinfo(dtype).max
    gray = rng.integers(0, top, (h, w), endpoint=True).astype(dtype)
    return mask, gray


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("feature_set", ["1", "2"])
def test_box_mosaic_gives_the_frames_values_bit_for_bit(seed, feature_set):
    mask, gray = _frame(seed)
    objects = find_objects(mask, keep_border=bool(seed % 2))
    whole = measure_objects(objects.labels, gray, feature_set)
    boxed = measure_objects(objects.labels, gray, feature_set, bboxes=objects.bboxes)
    assert boxed.labels.tolist() == whole.labels.tolist()
    assert np.array_equal(boxed.bboxes, whole.bboxes)
    assert np.array_equal(boxed.centroids, whole.centroids)
    assert np.array_equal(boxed.features, whole.features, equal_nan=True)


def test_colour_frame_and_objects_at_every_edge():
    rng = np.random.default_rng(7)
    mask = np.zeros((40, 50), bool)
    mask[0:5, 0:7] = True  # corner
    mask[10:30, 45:50] = True  # right edge
    mask[35:40, 20:30] = True  # bottom edge
    mask[12:20, 12:20] = True
    mask[14:18, 14:18] = False  # a hole (filled by find_objects)
    mask[20, 20] = True  # touches the square diagonally: the same 8-connected object
    rgb = rng.integers(0, 256, (40, 50, 3)).astype(np.uint8)
    objects = find_objects(mask)
    whole = measure_objects(objects.labels, rgb, "2")
    boxed = measure_objects(objects.labels, rgb, "2", bboxes=objects.bboxes)
    assert objects.count == 4
    assert np.array_equal(boxed.features, whole.features)
    assert np.array_equal(boxed.centroids, whole.centroids)


def test_boxes_larger_than_the_frame_read_the_frame():
    # An L around a square: the boxes overlap, together larger than the frame (36 + 9 pixels),
    # where the mosaic would cost more than the frame: the frame is read, with the same values.
    labels = np.zeros((6, 6), np.int32)
    labels[0, :] = 1
    labels[:, 0] = 1
    labels[2:5, 2:5] = 2
    boxes = np.array([[0, 0, 6, 6], [2, 2, 5, 5]])
    gray = np.arange(36, dtype=np.uint8).reshape(6, 6)
    boxed = measure_objects(labels, gray, "2", bboxes=boxes)
    assert np.array_equal(boxed.features, measure_objects(labels, gray, "2").features)
    assert boxed.column("area").tolist() == [11.0, 9.0]
    assert boxed.bboxes.tolist() == boxes.tolist()


@pytest.mark.parametrize("seed", range(40))
def test_find_objects_paths_agree_label_for_label(seed, monkeypatch):
    """The outer contours drawn filled, the labelling renumbered through a table and the
    labelling renumbered box by box: the same labels, numbering and boxes."""
    mask, _ = _frame(seed)
    rng = np.random.default_rng(seed)
    if seed % 5 == 0:
        mask[:] = True
    seeds = rng.random(mask.shape) > 0.98 if seed % 3 == 0 else None
    kwargs = {"min_area": int(seed % 4) * 3, "keep_border": bool(seed % 2), "seeds": seeds,
              "max_area": 60 if seed % 7 == 0 else None}
    outlines = find_objects(mask, **kwargs)
    monkeypatch.setattr(objects_module, "CONTOUR_OBJECTS", -1)  # always the labelling
    monkeypatch.setattr(objects_module, "_BOXES_PER_FRAME_PASS", 0)  # renumbered through the table
    table = find_objects(mask, **kwargs)
    monkeypatch.setattr(objects_module, "_BOXES_PER_FRAME_PASS", 10**9)  # box by box
    boxes = find_objects(mask, **kwargs)
    for other in (table, boxes):
        assert other.labels.dtype == outlines.labels.dtype == np.int32
        assert np.array_equal(other.labels, outlines.labels)
        assert np.array_equal(other.bboxes, outlines.bboxes)


def test_seeds_keep_only_the_objects_holding_one():
    mask = np.zeros((30, 30), bool)
    mask[2:8, 2:8] = True
    mask[12:20, 12:20] = True
    mask[14:18, 14:18] = False  # a hole...
    mask[15, 15] = True  # ...holding a speck: part of the outer object once filled
    mask[24:28, 3:9] = True
    seeds = np.zeros((30, 30), bool)
    seeds[15, 15] = True  # the speck's seed keeps the object around it
    seeds[25, 4] = True
    found = find_objects(mask, seeds=seeds)
    assert found.bboxes.tolist() == [[12, 12, 20, 20], [24, 3, 28, 9]]
    assert int((found.labels == 1).sum()) == 64


def test_a_sparse_frame_goes_box_by_box_and_drops_what_it_should():
    mask = np.zeros((200, 200), bool)
    mask[0:3, 50:60] = True  # on the border: dropped
    mask[100, 100] = True  # a speck: dropped
    mask[20:30, 20:30] = True
    mask[150:160, 40:45] = True
    found = find_objects(mask, min_area=5, keep_border=False)
    assert found.bboxes.tolist() == [[20, 20, 30, 30], [150, 40, 160, 45]]
    assert sorted(np.unique(found.labels).tolist()) == [0, 1, 2]
    assert int((found.labels == 1).sum()) == 100 and int((found.labels == 2).sum()) == 50


def test_find_objects_draws_each_object_from_its_own_outline_alone(monkeypatch):
    """Regression: each object was drawn by handing OpenCV every outline of the frame and an
    index, so each call converted all n outlines: n² work, 26 ms of a 300-object frame's
    extraction (12 ms once each call gets its one outline)."""
    mask = np.zeros((200, 200), bool)
    for r in range(5, 195, 12):
        for c in range(5, 195, 12):
            mask[r : r + 6, c : c + 4] = True  # 256 objects
    drawn_at_once: list[int] = []
    draw = cv2.drawContours

    def counting(image, contours, *args, **kwargs):
        drawn_at_once.append(len(contours))
        return draw(image, contours, *args, **kwargs)

    monkeypatch.setattr(cv2, "drawContours", counting)
    objects = find_objects(mask, min_area=10)
    assert objects.count == 256
    assert drawn_at_once == [1] * 256
    monkeypatch.setattr(objects_module, "CONTOUR_OBJECTS", -1)  # the labelling: the same objects
    assert np.array_equal(find_objects(mask, min_area=10).labels, objects.labels)
