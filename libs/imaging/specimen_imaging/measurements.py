"""Per-object measurements, and the versioned feature definition the classifier relies on.

Every value follows ``skimage.measure.regionprops`` on the same labels (tests assert
agreement within 1e-6 on ``coins``, ``cell``, ``camera`` and synthetic frames), but is computed
for all objects at once: moments, areas and intensity statistics accumulated per object with
``ufunc.at`` over the foreground pixels, the perimeter from neighbours gathered for the
foreground pixels only, and the convex image (solidity, Feret diameter) counted exactly from
every hull's edge / lattice-line crossings in integer passes; only OpenCV's ``convexHull``
is still called per object (and per row band it spans). That is ~10x faster than
``regionprops_table`` at ~300 objects (``bench/segment_algorithms.py``).

The frame is walked in row bands of :data:`BAND_PIXELS` pixels (twice: sums, then moments
about the centroids), so the temporaries are bounded by the band, not by the foreground: an
all-foreground 40 MP frame held ~3 GB in one pass (issue 9, finding 6).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_imaging.arrays import to_gray
from specimen_imaging.descriptors import DESCRIPTOR_NAMES
from specimen_imaging.descriptors_batch import describe_objects_batch
from specimen_imaging.mosaic import shelf_layout
from specimen_kit.errors import InvalidParameter

FEATURE_SET_VERSION = "2"
"""The feature set measured by default. Bump whenever a name, its order or its definition
changes (models are trained on it), and keep the older sets in :data:`FEATURE_SETS`: a model
trained on one is still served with its features."""

FEATURE_NAMES_V1: tuple[str, ...] = (
    "area",
    "perimeter",
    "equivalent_diameter",
    "major_axis_length",
    "minor_axis_length",
    "eccentricity",
    "orientation",
    "solidity",
    "extent",
    "circularity",
    "feret_diameter_max",
    "hu_moment_1",
    "hu_moment_2",
    "hu_moment_3",
    "hu_moment_4",
    "hu_moment_5",
    "hu_moment_6",
    "hu_moment_7",
    "intensity_mean",
    "intensity_std",
    "intensity_min",
    "intensity_max",
)
"""Feature set ``"1"``'s columns (also the first columns of set ``"2"``, same definitions).

Definitions (pixels; orientation in radians), each as scikit-image's ``regionprops``:
``area`` pixel count; ``perimeter`` the 4-neighbourhood weighted estimate of
``skimage.measure.perimeter`` (Benkrid & Crookes; not OpenCV's ``arcLength``);
``equivalent_diameter`` sqrt(4 area / π); ``major/minor_axis_length`` 4·sqrt of the
inertia-tensor eigenvalues; ``eccentricity`` sqrt(1 - λ2/λ1); ``orientation`` angle between
axis 0 (rows) and the major axis, in [-π/2, π/2]; ``solidity`` area / area of the convex hull
image (pixel centres inside or on the hull of the pixels' edge midpoints); ``extent`` area /
bbox area; ``circularity`` 4π·area / perimeter² (0 when the perimeter is 0: one-pixel or
one-pixel-thick objects); ``feret_diameter_max`` the largest distance between edge midpoints
of the convex hull image; ``hu_moment_1..7`` Hu's invariants of the normalised central moments
(row axis first, as scikit-image); ``intensity_*`` mean, population std, min and max of the
gray intensity under the object.
"""

FEATURE_NAMES_V2: tuple[str, ...] = (*FEATURE_NAMES_V1, *DESCRIPTOR_NAMES)
"""Feature set ``"2"``: set 1's columns, then :mod:`specimen_imaging.descriptors`' groups
(intensity distribution and local background, GLCM and LBP texture, Fourier contour and
convexity defects, skeleton, Zernike moments, Lab colour)."""

FEATURE_SETS: dict[str, tuple[str, ...]] = {"1": FEATURE_NAMES_V1, "2": FEATURE_NAMES_V2}
"""Every feature set this library measures: version → column names in order."""

FEATURE_NAMES: tuple[str, ...] = FEATURE_SETS[FEATURE_SET_VERSION]
"""Column order of :attr:`ObjectMeasurements.features` for feature set ``FEATURE_SET_VERSION``."""


def feature_names_of(version: str) -> tuple[str, ...]:
    """The columns of feature set ``version``.

    Raises
    ------
    InvalidParameter
        A version this library does not measure (422, the known ones named).
    """
    try:
        return FEATURE_SETS[str(version)]
    except KeyError:
        raise InvalidParameter(
            f"feature set {version!r} is unknown; this library measures {', '.join(FEATURE_SETS)}"
        ) from None


@dataclass(frozen=True)
class ObjectMeasurements:
    """Measurements of the objects of a label image.

    Attributes
    ----------
    labels : ndarray of int64, (n,)
        The label of each row, ascending.
    bboxes : ndarray of int64, (n, 4)
        ``(min_row, min_col, max_row, max_col)``, max exclusive.
    centroids : ndarray of float64, (n, 2)
        ``(row, col)``.
    features : ndarray of float64, (n, len(feature_names))
        Columns in :attr:`feature_names` order.
    feature_set_version : str
        The feature set measured (a key of :data:`FEATURE_SETS`).
    """

    labels: npt.NDArray[np.int64]
    bboxes: npt.NDArray[np.int64]
    centroids: npt.NDArray[np.float64]
    features: npt.NDArray[np.float64]
    feature_set_version: str = FEATURE_SET_VERSION

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The columns of :attr:`features`."""
        return FEATURE_SETS[self.feature_set_version]

    def column(self, name: str) -> npt.NDArray[np.float64]:
        """The feature column called ``name``."""
        names = self.feature_names
        if name not in names:
            raise InvalidParameter(f"unknown feature {name!r}; known: {', '.join(names)}")
        out: npt.NDArray[np.float64] = self.features[:, names.index(name)]
        return out


_BIG = 1 << 62
_PERIMETER_WEIGHTS = np.zeros(50)
_PERIMETER_WEIGHTS[[5, 7, 15, 17, 25, 27]] = 1
_PERIMETER_WEIGHTS[[21, 33]] = np.sqrt(2)
_PERIMETER_WEIGHTS[[13, 23]] = (1 + np.sqrt(2)) / 2
IntArray = npt.NDArray[np.int64]
LabelArray = npt.NDArray[np.int32]


BAND_PIXELS = 1 << 18
"""Pixels per row band of :func:`measure_objects`: its per-pixel temporaries are this size, so
its peak no longer grows with the frame's foreground (issue 9, finding 6); large enough that
the per-band calls cost little."""


def _label_positions(
    labels: npt.NDArray[Any], bands: list[tuple[int, int]]
) -> tuple[IntArray, Callable[[npt.NDArray[Any]], npt.NDArray[Any]]]:
    """The labels present (ascending, 0 left out) and a map from label values to their index.

    Label values up to the pixel count (those of ``find_objects``) go through a lookup table
    of one int32 per value; larger ones are looked up in the sorted labels.
    """
    top = int(labels.max()) if labels.size else 0
    if top <= max(labels.size, 1 << 16):
        present = np.zeros(top + 1, bool)
        for r0, r1 in bands:
            present[labels[r0:r1].ravel()] = True
        present[0] = False
        table = np.cumsum(present, dtype=np.int32) - 1
        ids = np.flatnonzero(present).astype(np.int64)

        def by_table(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            found: npt.NDArray[Any] = table[values]
            return found

        return ids, by_table
    found = [np.unique(labels[r0:r1]) for r0, r1 in bands]
    ids = np.unique(np.concatenate(found)).astype(np.int64)
    ids = ids[ids != 0]

    def by_search(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        found: npt.NDArray[Any] = np.searchsorted(ids, values)
        return found

    return ids, by_search


def _band_pixels(
    labels: npt.NDArray[Any],
    intensity: npt.NDArray[Any],
    r0: int,
    r1: int,
    position: Callable[[npt.NDArray[Any]], npt.NDArray[Any]],
    shift: tuple[IntArray, IntArray] | None = None,
) -> tuple[npt.NDArray[Any], IntArray, IntArray, npt.NDArray[np.float64]]:
    """Foreground pixels of rows ``[r0, r1)`` in raster order: object index, row, column, value.

    ``shift``: per object, what takes a mosaic's row and column to the frame's (see
    :func:`_box_mosaic`).
    """
    flat = labels[r0:r1].ravel()
    idx = np.flatnonzero(flat)
    pos = position(flat[idx])
    r, c = np.divmod(idx, labels.shape[1])
    r += r0
    if shift is not None:
        r += shift[0][pos]
        c += shift[1][pos]
    values = intensity[r0:r1].ravel()[idx].astype(np.float64)
    return pos, r, c, values


def _perimeter_weights(
    labels: npt.NDArray[Any], r0: int, r1: int
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Border pixels of image rows ``[r0, r1)`` and their ``skimage.measure.perimeter`` weights.

    A pixel is on the border when a 4-neighbour has another label; its code is 1 plus 2 per
    edge-neighbour and 10 per corner-neighbour that is a border pixel of the same object
    (scikit-image's convolution on each region's own image). Only the band is padded, with
    two rows of the frame above and below it (zeros past the frame's edges), which is all the
    border test of its own pixels' neighbours needs. Returns the label and the weight of each
    border pixel of the band, in raster order.
    """
    h, w = labels.shape
    wp = w + 2
    top, bottom = max(r0 - 2, 0), min(r1 + 2, h)
    padded = np.zeros((r1 - r0 + 4, wp), labels.dtype)
    padded[top - r0 + 2 : bottom - r0 + 2, 1:-1] = labels[top:bottom]
    flat = padded.ravel()
    # Image rows r0 - 1 .. r1 (padded rows 1 .. r1 - r0 + 2): the band and its neighbour rows.
    near = np.flatnonzero(flat[wp : (r1 - r0 + 3) * wp]) + wp
    near_labels = flat[near]
    border = np.zeros(near.size, bool)
    for step in (-wp, -1, 1, wp):
        border |= flat[near + step] != near_labels
    on_border = np.zeros(flat.size, bool)
    on_border[near[border]] = True
    own = border & (near >= 2 * wp) & (near < (r1 - r0 + 2) * wp)
    bp, blv = near[own], near_labels[own]
    del near, near_labels, border, own
    codes = np.ones(bp.size, np.intp)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                nb = bp + dr * wp + dc
                codes += (2 if dr == 0 or dc == 0 else 10) * ((flat[nb] == blv) & on_border[nb])
    return blv, _PERIMETER_WEIGHTS[codes]


def _ragged_arange(counts: IntArray) -> IntArray:
    """``concatenate([arange(k) for k in counts])`` without the loop."""
    ends = np.cumsum(counts)
    total = int(ends[-1]) if counts.size else 0
    out: IntArray = np.arange(total, dtype=np.int64) - np.repeat(ends - counts, counts)
    return out


def _hulls(pts: npt.NDArray[np.int32], counts: IntArray) -> tuple[IntArray, IntArray]:
    """Convex hull vertices of consecutive groups of ``(x, y)`` points, concatenated.

    The one per-object loop left: a single OpenCV call per group, nothing else.
    """
    bounds = np.r_[0, np.cumsum(counts)].tolist()
    hulls = [cv2.convexHull(pts[a:b]) for a, b in itertools.pairwise(bounds)]
    sizes = np.fromiter((len(h) for h in hulls), np.int64, len(hulls))
    out: IntArray = np.concatenate(hulls).reshape(-1, 2).astype(np.int64)
    return out, sizes


def _lattice_spans(
    ys: IntArray, xs: IntArray, sizes: IntArray
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Lattice lines crossing each convex polygon, and the inclusive lattice range on each.

    Polygon ``k`` is the next ``sizes[k]`` vertices ``(ys, xs)`` in doubled coordinates (pixel
    centres are the even points). Every (edge, line) crossing of all polygons is computed at
    once in exact integer arithmetic, so points on an edge count as inside, as
    ``grid_points_in_poly`` does. Returns, one entry per (polygon, line): the polygon, the
    line, and the lowest and highest lattice point inside (``lo > hi`` when none).
    """
    n = sizes.size
    start = np.r_[0, np.cumsum(sizes)[:-1]]
    owner = np.repeat(np.arange(n), sizes)
    nxt = np.arange(ys.size) + 1
    nxt[start + sizes - 1] = start
    y2, x2 = ys[nxt], xs[nxt]
    first = -((-np.minimum.reduceat(ys, start)) // 2)
    count = np.maximum.reduceat(ys, start) // 2 - first + 1
    line_start = np.cumsum(count) - count
    slanted = np.flatnonzero(ys != y2)
    ya, yb = ys[slanted], y2[slanted]
    e_lo = -((-np.minimum(ya, yb)) // 2)
    e_cnt = np.maximum(np.maximum(ya, yb) // 2 - e_lo + 1, 0)
    e = np.repeat(slanted, e_cnt)
    line = np.repeat(e_lo, e_cnt) + _ragged_arange(e_cnt)
    y1, x1, dy, dx = ys[e], xs[e], y2[e] - ys[e], x2[e] - xs[e]
    sign = np.where(dy > 0, 1, -1)
    num = (x1 * dy + (2 * line - y1) * dx) * sign
    den2 = 2 * dy * sign
    key = line_start[owner[e]] + line - first[owner[e]]
    lo = np.full(int(count.sum()), _BIG, np.int64)
    hi = np.full(lo.size, -_BIG, np.int64)
    np.minimum.at(lo, key, -((-num) // den2))
    np.maximum.at(hi, key, num // den2)
    line_owner = np.repeat(np.arange(n), count)
    lines = _ragged_arange(count) + np.repeat(first, count)
    return line_owner, lines, lo, hi


def _band_hulls(pos: IntArray, r: IntArray, c: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Convex hulls of the pixels' edge midpoints of each object present in one row band.

    ``pos``, ``r``, ``c``: the band's foreground pixels in raster order. The first and last
    pixel of each (object, row) are the row's extremes, and their left/right, top and bottom
    edge midpoints span the same hull as all of the object's pixels. Returns the objects, the
    hull vertices (``(x, y)`` in doubled coordinates, object after object) and their counts.
    """
    order = np.argsort(pos, kind="stable")
    pos, r, c = pos[order], r[order], c[order]
    del order
    run = np.flatnonzero(np.r_[True, (pos[1:] != pos[:-1]) | (r[1:] != r[:-1])])
    last = np.r_[run[1:], pos.size] - 1
    y, left, right, owner = 2 * r[run], 2 * c[run], 2 * c[last], pos[run]
    # (x, y) for OpenCV: left, top and bottom edge midpoints of the left end, same at the right.
    mids = (
        np.stack([left - 1, y, left, y - 1, left, y + 1, right + 1, y, right, y - 1, right, y + 1], axis=1)
        .reshape(-1, 2)
        .astype(np.int32)
    )
    first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    hull, sizes = _hulls(mids, 6 * np.diff(np.r_[first, owner.size]))
    return owner[first], hull, sizes


def _convex_areas_and_ferets(
    hull: IntArray, sizes: IntArray
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """:func:`_convex_chunk` for groups of objects with about :data:`BAND_PIXELS` lattice lines.

    The work holds a dozen integers per (object, lattice line) crossing: for many tall thin
    objects (1-pixel stripes) all at once, that was ~100 bytes per pixel of the frame.
    """
    start = np.cumsum(sizes) - sizes
    extent = np.maximum.reduceat(hull, start, axis=0) - np.minimum.reduceat(hull, start, axis=0)
    lines = extent.sum(axis=1) // 2 + 2  # rows + columns crossed, doubled coordinates halved
    ends = np.cumsum(lines)
    cuts = np.unique(np.searchsorted(ends, np.arange(BAND_PIXELS, int(ends[-1]), BAND_PIXELS), "right"))
    areas, ferets = [], []
    first = 0
    for last in [*cuts[cuts < sizes.size].tolist(), sizes.size]:
        if last > first:
            lo, hi = int(start[first]), int(start[last - 1] + sizes[last - 1])
            area, feret = _convex_chunk(hull[lo:hi], sizes[first:last])
            areas.append(area)
            ferets.append(feret)
            first = last
    return np.concatenate(areas), np.concatenate(ferets)


def _convex_chunk(hull: IntArray, sizes: IntArray) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Pixel count of skimage's ``image_convex`` and its ``feret_diameter_max``, each object.

    ``image_convex`` is the set of pixel centres inside or on the hull of the pixels' edge
    midpoints (``hull``: its vertices, ``(x, y)`` doubled, ``sizes[k]`` for object ``k``). The
    hull's rows and columns are counted exactly (:func:`_lattice_spans`); skimage's Feret
    diameter is the largest distance between the marching-squares contour points of the convex
    image at level 0.5, which are the midpoints just past both ends of each of its rows and
    columns.
    """
    n = sizes.size
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


MOSAIC_GAP = 2
"""Zero pixels between two boxes of :func:`_box_mosaic` and around it: the perimeter reads
the 4-neighbours of an object's pixels and theirs (zeros, as outside the frame)."""


def _box_mosaic(
    labels: npt.NDArray[Any], intensity: npt.NDArray[Any], bboxes: IntArray
) -> tuple[LabelArray, npt.NDArray[Any], tuple[IntArray, IntArray]]:
    """Every object's box (label ``k + 1`` in ``bboxes[k]``) copied into one small image.

    Returns the mosaic's labels (object ``k``'s own pixels ``k + 1``, everything else 0), its
    intensities, and per object the row and column shifts back to the frame. An object's
    pixels keep their raster order, its neighbours of another label become 0 (as different
    from it as they were), and the zeros around each box stand for the frame's outside, so
    every set 1 measurement of the mosaic is the frame's, bit for bit (the sums run over the
    same values in the same order).
    """
    heights = (bboxes[:, 2] - bboxes[:, 0]).tolist()
    widths = (bboxes[:, 3] - bboxes[:, 1]).tolist()
    placed, mh, mw = shelf_layout(heights, widths, MOSAIC_GAP)
    corners = np.array(placed, np.int64).reshape(-1, 2)
    mosaic = np.zeros((mh, mw), np.int32)
    values = np.zeros((mh, mw), intensity.dtype)
    for k, ((r0, c0, r1, c1), (y, x)) in enumerate(zip(bboxes.tolist(), corners.tolist(), strict=True)):
        h, w = r1 - r0, c1 - c0
        mosaic[y : y + h, x : x + w][labels[r0:r1, c0:c1] == k + 1] = k + 1
        values[y : y + h, x : x + w] = intensity[r0:r1, c0:c1]
    return mosaic, values, (bboxes[:, 0] - corners[:, 0], bboxes[:, 1] - corners[:, 1])


def measure_objects(
    labels: npt.NDArray[Any],
    intensity: npt.NDArray[Any],
    feature_set: str = FEATURE_SET_VERSION,
    *,
    bboxes: npt.NDArray[Any] | None = None,
) -> ObjectMeasurements:
    """Measure every labelled object.

    Parameters
    ----------
    labels : ndarray of int, (h, w)
        0 is background; every other value is one object (as from ``find_objects``).
    intensity : ndarray, (h, w) or (h, w, 3|4)
        Gray, or RGB(A) converted with BT.601 luma; uint8, uint16 or float. Set 2's colour
        group reads the RGB values of a colour image.
    feature_set : str
        A key of :data:`FEATURE_SETS` (default :data:`FEATURE_SET_VERSION`): set 1 is the
        all-at-once measurements alone, set 2 adds :mod:`specimen_imaging.descriptors`' groups
        (computed for all objects together by :mod:`specimen_imaging.descriptors_batch`).
    bboxes : ndarray of int, (n, 4), optional
        When the labels are exactly ``1..n`` with these tight boxes (``find_objects``'s
        :attr:`~specimen_imaging.objects.Objects.bboxes`): the passes then read the boxes only,
        copied into one mosaic, instead of every pixel of the frame (the same numbers, bit
        for bit; a frame's objects usually cover a few percent of it). Ignored when the boxes
        together are larger than the frame.

    Returns
    -------
    ObjectMeasurements
        One row per label present, ascending; features in the set's order.

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
    names = feature_names_of(feature_set)
    color = intensity if intensity.ndim == 3 and intensity.shape[2] >= 3 else None
    if intensity.ndim == 3:
        intensity = to_gray(intensity)
    h, w = labels.shape
    source, values_of = labels, intensity
    shift: tuple[IntArray, IntArray] | None = None
    if bboxes is not None:
        boxes = np.asarray(bboxes, np.int64).reshape(-1, 4)
        box_pixels = int(((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sum())
        if boxes.shape[0] and box_pixels <= labels.size:
            source, values_of, shift = _box_mosaic(labels, intensity, boxes)
    rows = max(1, BAND_PIXELS // max(source.shape[1], 1))
    bands = [(r0, min(r0 + rows, source.shape[0])) for r0 in range(0, source.shape[0], rows)]
    position: Callable[[npt.NDArray[Any]], npt.NDArray[Any]]
    if shift is not None:
        ids = np.arange(1, shift[0].size + 1, dtype=np.int64)

        def by_mosaic_label(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            found: npt.NDArray[Any] = values.astype(np.intp) - 1
            return found

        position = by_mosaic_label
    else:
        ids, position = _label_positions(labels, bands)
    n = ids.size
    if n == 0:
        return ObjectMeasurements(
            np.zeros(0, np.int64), np.zeros((0, 4), np.int64), np.zeros((0, 2)), np.zeros((0, len(names))),
            str(feature_set),
        )

    # Pass 1, band by band: what needs no centroid. Every float sum is accumulated in place
    # (``ufunc.at``), each object's pixels in raster order, so the sums are the same, bit for
    # bit, as one ``bincount`` over all of an object's pixels in raster order.
    count = np.zeros(n, np.int64)
    sum_r, sum_c, sum_v, perimeter = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    min_r, min_c = np.full(n, h, np.int64), np.full(n, w, np.int64)
    max_r, max_c = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    vmin, vmax = np.full(n, np.inf), np.full(n, -np.inf)
    hull_parts: list[tuple[IntArray, IntArray, IntArray]] = []
    for r0, r1 in bands:
        pos, r, c, values = _band_pixels(source, values_of, r0, r1, position, shift)
        np.add.at(count, pos, 1)
        # Float weights: ``ufunc.at`` has no fast loop for int64 into float64 (10x slower).
        np.add.at(sum_r, pos, r.astype(np.float64))
        np.add.at(sum_c, pos, c.astype(np.float64))
        np.add.at(sum_v, pos, values)
        np.minimum.at(min_r, pos, r)
        np.maximum.at(max_r, pos, r)
        np.minimum.at(min_c, pos, c)
        np.maximum.at(max_c, pos, c)
        np.minimum.at(vmin, pos, values)
        np.maximum.at(vmax, pos, values)
        del values
        if pos.size:
            hull_parts.append(_band_hulls(pos, r, c))
        del pos, r, c
        border_labels, weights = _perimeter_weights(source, r0, r1)
        np.add.at(perimeter, position(border_labels), weights)
        del border_labels, weights
    area = count.astype(np.float64)
    cr, cc = sum_r / area, sum_c / area
    mean = sum_v / area
    del count, sum_r, sum_c, sum_v
    bboxes = np.stack([min_r, min_c, max_r + 1, max_c + 1], axis=1).astype(np.int64)
    del min_r, min_c, max_r, max_c

    # Pass 2: central moments and the intensity variance, about the centroids and means.
    # Same products in the same order as the single-pass formulas.
    mu = {key: np.zeros(n) for key in ((2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (0, 3))}
    sum_sq = np.zeros(n)
    for r0, r1 in bands:
        pos, r, c, values = _band_pixels(source, values_of, r0, r1, position, shift)
        np.add.at(sum_sq, pos, (values - mean[pos]) ** 2)
        del values
        dr, dc = r - cr[pos], c - cc[pos]
        del r, c
        np.add.at(mu[2, 0], pos, dr * dr)
        np.add.at(mu[1, 1], pos, dr * dc)
        np.add.at(mu[0, 2], pos, dc * dc)
        np.add.at(mu[3, 0], pos, (dr * dr) * dr)
        np.add.at(mu[2, 1], pos, (dr * dr) * dc)
        np.add.at(mu[1, 2], pos, (dr * dc) * dc)
        np.add.at(mu[0, 3], pos, (dc * dc) * dc)
        del pos, dr, dc
    std = np.sqrt(sum_sq / area)

    owners = np.concatenate([part[0] for part in hull_parts])
    sizes = np.concatenate([part[2] for part in hull_parts])
    vertex_owner = np.repeat(owners, sizes)
    order = np.argsort(vertex_owner, kind="stable")
    vertices = np.concatenate([part[1] for part in hull_parts])[order].astype(np.int32)
    del hull_parts, owners, sizes, order
    # One object's vertices from several bands: the hull of their hulls is the object's hull.
    hull, sizes = _hulls(vertices, np.bincount(vertex_owner, minlength=n))
    del vertices, vertex_owner
    convex_area, feret = _convex_areas_and_ferets(hull, sizes)

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
    if len(names) > features.shape[1]:
        features = np.column_stack([features, describe_objects_batch(labels, ids, bboxes, intensity, color)])
    return ObjectMeasurements(ids, bboxes, np.stack([cr, cc], axis=1), features, str(feature_set))


def feature_matrix(
    labels: npt.NDArray[Any], intensity: npt.NDArray[Any], feature_set: str = FEATURE_SET_VERSION
) -> npt.NDArray[np.float64]:
    """Objects x feature-set columns (default :data:`FEATURE_SET_VERSION`).

    Examples
    --------
    >>> lab = np.zeros((4, 4), np.int32); lab[1:3, 1:3] = 1
    >>> feature_matrix(lab, np.zeros((4, 4), np.uint8), "1").shape
    (1, 22)
    """
    return measure_objects(labels, intensity, feature_set).features
