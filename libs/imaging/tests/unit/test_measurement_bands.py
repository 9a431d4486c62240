"""measure_objects band by band (issue 9, finding 6): the same values as before, a bounded peak.

``measure_objects_before`` is the single-pass implementation this replaced (commit 69ee1ee),
kept verbatim as the reference: the banded one must give the same numbers bit for bit.
"""

import tracemalloc
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from specimen_imaging import measurements
from specimen_imaging.arrays import to_gray
from specimen_imaging.measurements import (
    _PERIMETER_WEIGHTS,
    FEATURE_NAMES_V1,
    ObjectMeasurements,
    _hulls,
    _lattice_spans,
    _ragged_arange,
    measure_objects,
)
from specimen_kit.errors import InvalidParameter

IntArray = npt.NDArray[np.int64]
LabelArray = npt.NDArray[np.int32]


def _random_labels(rng: np.random.Generator) -> np.ndarray:
    h, w = (int(v) for v in rng.integers(1, 200, 2))
    mask = rng.random((h, w)) > rng.uniform(0.2, 0.9)
    if rng.random() < 0.5:  # blobs with ragged edges and holes, not only specks
        mask = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        mask &= rng.random((h, w)) > 0.1
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=int(rng.choice([4, 8])))
    if rng.random() < 0.3:
        labels *= 7  # gaps in the numbering
    return labels.astype(rng.choice([np.int32, np.int64, np.uint16, np.uint32]))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("band_pixels", [1, 37, 1000, measurements.BAND_PIXELS])
def test_same_values_as_the_single_pass_measurement(seed, band_pixels, monkeypatch):
    monkeypatch.setattr(measurements, "BAND_PIXELS", band_pixels)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        labels = _random_labels(rng)
        h, w = labels.shape
        kind = rng.choice(["uint8", "uint16", "float", "rgb"])
        if kind == "rgb":
            intensity = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        elif kind == "float":
            intensity = rng.random((h, w))
        else:
            intensity = rng.integers(0, np.iinfo(kind).max, (h, w)).astype(kind)
        ours, before = measure_objects(labels, intensity, "1"), measure_objects_before(labels, intensity)
        for field in ("labels", "bboxes", "centroids", "features"):
            np.testing.assert_array_equal(getattr(ours, field), getattr(before, field), err_msg=field)


def test_labels_beyond_int32_keep_their_values():
    labels = np.zeros((6, 6), np.int64)
    labels[1:3, 1:3], labels[4:6, 0:5] = 10**12, 3
    ours = measure_objects(labels, np.zeros((6, 6), np.uint8))
    assert ours.labels.tolist() == [3, 10**12]
    small = measure_objects(np.where(labels == 10**12, 9, labels), np.zeros((6, 6), np.uint8))
    np.testing.assert_array_equal(ours.features, small.features)


@pytest.mark.parametrize("feature_set", ["1", "2"])
def test_peak_memory_of_an_all_foreground_frame_is_bounded(feature_set):
    # The single pass held ~10 int64/float64 arrays per foreground pixel: 69 bytes per pixel
    # here (3.1 GB for a 40 MP frame that is all foreground). Band by band it is a few
    # megabytes of band temporaries plus per-object arrays, whatever the frame's size.
    side = 1000
    labels = np.ones((side, side), np.int32)
    intensity = np.zeros((side, side), np.uint8)
    tracemalloc.start()
    try:
        measure_objects(labels, intensity, feature_set)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Set 2's descriptors read one object's box at a time, at most MAX_PATCH_PIXELS of it: a
    # constant (~26 MB measured), not a cost per pixel of the frame.
    assert peak <= 20 * labels.size + (32_000_000 if feature_set == "2" else 0)


# The implementation before (commit 69ee1ee) -------------------------------------------------


def _perimeters_before(
    lab: npt.NDArray[np.int32], r: IntArray, c: IntArray, lv: LabelArray, pos: IntArray, n: int
) -> npt.NDArray[np.float64]:
    wp = lab.shape[1] + 2
    padded = np.pad(lab, 1).ravel()
    pidx = (r + 1) * wp + (c + 1)
    border = np.zeros(pidx.size, bool)
    for step in (-wp, -1, 1, wp):
        border |= padded[pidx + step] != lv
    bp, blv = pidx[border], lv[border]
    on_border = np.zeros(padded.size, bool)
    on_border[bp] = True
    codes = np.ones(bp.size, np.int64)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                nb = bp + dr * wp + dc
                codes += (2 if dr == 0 or dc == 0 else 10) * ((padded[nb] == blv) & on_border[nb])
    return np.bincount(pos[border], _PERIMETER_WEIGHTS[codes], n).astype(np.float64, copy=False)


def _convex_areas_and_ferets_before(
    r: IntArray, c: IntArray, lv: LabelArray, pos: IntArray, n: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    run = np.flatnonzero(np.r_[True, (lv[1:] != lv[:-1]) | (r[1:] != r[:-1])])
    last = np.r_[run[1:], lv.size] - 1
    y, left, right = 2 * r[run], 2 * c[run], 2 * c[last]
    # (x, y) for OpenCV: left, top and bottom edge midpoints of the left end, same at the right.
    mids = (
        np.stack([left - 1, y, left, y - 1, left, y + 1, right + 1, y, right, y - 1, right, y + 1], axis=1)
        .reshape(-1, 2)
        .astype(np.int32)
    )
    hull, sizes = _hulls(mids, 6 * np.bincount(pos[run], minlength=n))
    row_owner, rows, rlo, rhi = _lattice_spans(hull[:, 1], hull[:, 0], sizes)
    ok = rhi >= rlo
    area = np.bincount(row_owner[ok], (rhi - rlo + 1)[ok], n)
    col_owner, cols, clo, chi = _lattice_spans(hull[:, 0], hull[:, 1], sizes)
    okc = chi >= clo
    r2, c2 = 2 * rows[ok], 2 * cols[okc]
    ends = np.concatenate(
        [
            np.stack([2 * rlo[ok] - 1, r2], 1),
            np.stack([2 * rhi[ok] + 1, r2], 1),
            np.stack([c2, 2 * clo[okc] - 1], 1),
            np.stack([c2, 2 * chi[okc] + 1], 1),
        ]
    )
    end_owner = np.concatenate([row_owner[ok], row_owner[ok], col_owner[okc], col_owner[okc]])
    order = np.argsort(end_owner, kind="stable")
    outline, osizes = _hulls(ends[order].astype(np.int32), np.bincount(end_owner, minlength=n))
    # All pairs of hull vertices of each object at once (a few dozen vertices per object).
    pairs = osizes * osizes
    ostart = np.repeat(np.cumsum(osizes) - osizes, pairs)
    local = _ragged_arange(pairs)
    width = np.repeat(osizes, pairs)
    diff = outline[ostart + local // width] - outline[ostart + local % width]
    d2 = (diff * diff).sum(axis=1)
    feret = np.sqrt(np.maximum.reduceat(d2, np.cumsum(pairs) - pairs).astype(np.float64)) / 2.0
    return area.astype(np.float64), feret


def measure_objects_before(labels: npt.NDArray[Any], intensity: npt.NDArray[Any]) -> ObjectMeasurements:
    """Measure every labelled object.

    Parameters
    ----------
    labels : ndarray of int, (h, w)
        0 is background; every other value is one object (as from ``find_objects``).
    intensity : ndarray, (h, w) or (h, w, 3|4)
        Gray, or RGB(A) converted with BT.601 luma; uint8, uint16 or float.

    Returns
    -------
    ObjectMeasurements
        One row per label present, ascending; features in :data:`FEATURE_NAMES` order.

    Examples
    --------
    >>> lab = np.zeros((8, 8), np.int32); lab[1:7, 1:7] = 1
    >>> m = measure_objects(lab, np.full((8, 8), 5, np.uint8))
    >>> m.column("area").tolist(), m.bboxes.tolist(), m.centroids.tolist()
    ([36.0], [[1, 1, 7, 7]], [[3.5, 3.5]])
    """
    if not isinstance(labels, np.ndarray) or labels.ndim != 2 or labels.dtype.kind not in "ui":
        raise InvalidParameter("labels must be a 2-D integer array (h, w) with 0 for background")
    if (
        not isinstance(intensity, np.ndarray)
        or intensity.shape[:2] != labels.shape
        or intensity.ndim not in (2, 3)
    ):
        got = intensity.shape if isinstance(intensity, np.ndarray) else type(intensity).__name__
        raise InvalidParameter(
            f"intensity has shape {got}; it must be (h, w) or (h, w, c) like labels {labels.shape}"
        )
    if labels.size and labels.min() < 0:
        raise InvalidParameter("labels must be >= 0 (0 = background)")
    if intensity.ndim == 3:
        intensity = to_gray(intensity)
    w = labels.shape[1]
    lab = labels.astype(np.int32, copy=False)
    flat = lab.ravel()
    idx = np.flatnonzero(flat)
    n_features = len(FEATURE_NAMES_V1)
    if idx.size == 0:
        return ObjectMeasurements(
            np.zeros(0, np.int64), np.zeros((0, 4), np.int64), np.zeros((0, 2)), np.zeros((0, n_features))
        )
    order = np.argsort(flat[idx], kind="stable")
    idx = idx[order]
    lv = flat[idx]
    starts = np.flatnonzero(np.r_[True, lv[1:] != lv[:-1]])
    ids = lv[starts].astype(np.int64)
    n = ids.size
    pos = np.repeat(np.arange(n), np.diff(np.r_[starts, lv.size]))
    r, c = np.divmod(idx, w)
    area = np.bincount(pos, minlength=n).astype(np.float64)
    cr = np.bincount(pos, r, n) / area
    cc = np.bincount(pos, c, n) / area
    dr, dc = r - cr[pos], c - cc[pos]
    # One weight at a time, each freed before the next: the seven at once cost 7 floats per
    # foreground pixel at the peak (issue 9, finding 6). Same products, same order, same sums.
    mu = {
        (2, 0): np.bincount(pos, dr * dr, n),
        (1, 1): np.bincount(pos, dr * dc, n),
        (0, 2): np.bincount(pos, dc * dc, n),
        (3, 0): np.bincount(pos, (dr * dr) * dr, n),
        (2, 1): np.bincount(pos, (dr * dr) * dc, n),
        (1, 2): np.bincount(pos, (dr * dc) * dc, n),
        (0, 3): np.bincount(pos, (dc * dc) * dc, n),
    }
    del dr, dc
    bboxes = np.stack(
        [
            np.minimum.reduceat(r, starts),
            np.minimum.reduceat(c, starts),
            np.maximum.reduceat(r, starts) + 1,
            np.maximum.reduceat(c, starts) + 1,
        ],
        axis=1,
    ).astype(np.int64)

    # Inertia tensor [[a, b], [b, c]] as scikit-image: a = col variance, c = row variance.
    a, b, cv = mu[0, 2] / area, -mu[1, 1] / area, mu[2, 0] / area
    root = np.sqrt(((a - cv) / 2) ** 2 + b**2)
    l1 = np.maximum((a + cv) / 2 + root, 0)
    l2 = np.maximum((a + cv) / 2 - root, 0)
    major, minor = 4 * np.sqrt(l1), 4 * np.sqrt(l2)
    with np.errstate(invalid="ignore", divide="ignore"):
        eccentricity = np.where(l1 > 0, np.sqrt(np.maximum(1 - l2 / l1, 0)), 0.0)
    orientation = np.where(
        a - cv == 0, np.where(b < 0, np.pi / 4, -np.pi / 4), 0.5 * np.arctan2(-2 * b, cv - a)
    )

    nu = {k: v / area ** ((k[0] + k[1]) / 2 + 1) for k, v in mu.items()}
    t0, t1 = nu[3, 0] + nu[1, 2], nu[2, 1] + nu[0, 3]
    q0, q1 = t0 * t0, t1 * t1
    n4 = 4 * nu[1, 1]
    s, d = nu[2, 0] + nu[0, 2], nu[2, 0] - nu[0, 2]
    hu = np.empty((n, 7))
    hu[:, 0] = s
    hu[:, 1] = d * d + n4 * nu[1, 1]
    hu[:, 3] = q0 + q1
    hu[:, 5] = d * (q0 - q1) + n4 * t0 * t1
    t0, t1 = t0 * (q0 - 3 * q1), t1 * (3 * q0 - q1)
    q0, q1 = nu[3, 0] - 3 * nu[1, 2], 3 * nu[2, 1] - nu[0, 3]
    hu[:, 2] = q0 * q0 + q1 * q1
    hu[:, 4] = q0 * t0 + q1 * t1
    hu[:, 6] = q1 * t0 - q0 * t1

    perimeter = _perimeters_before(lab, r, c, lv, pos, n)
    convex_area, feret = _convex_areas_and_ferets_before(r, c, lv, pos, n)

    values = intensity.ravel()[idx].astype(np.float64)
    mean = np.bincount(pos, values, n) / area
    std = np.sqrt(np.bincount(pos, (values - mean[pos]) ** 2, n) / area)
    vmin, vmax = np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)

    box_area = (bboxes[:, 2] - bboxes[:, 0]) * (bboxes[:, 3] - bboxes[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        circularity = np.where(perimeter > 0, 4 * np.pi * area / perimeter**2, 0.0)
    features = np.column_stack(
        [
            area,
            perimeter,
            np.sqrt(4 * area / np.pi),
            major,
            minor,
            eccentricity,
            orientation,
            area / convex_area,
            area / box_area,
            circularity,
            feret,
            hu,
            mean,
            std,
            vmin,
            vmax,
        ]
    )
    return ObjectMeasurements(ids, bboxes, np.stack([cr, cc], axis=1), features)
