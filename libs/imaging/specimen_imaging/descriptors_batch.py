"""Feature set 2's descriptors for every object of a frame at once (the same numbers, faster).

:func:`specimen_imaging.descriptors.describe_objects` is the definition: one object at a time,
on its grown box. Here every object's grown box is copied into one *mosaic* (shelf-packed, a
:data:`GAP` of zeros between boxes and around them), so that the pixel-wise steps (local binary
patterns, thinning, neighbour counts, GLCM pairs) run once over the mosaic, and the per-object
sums (percentiles, moments, histograms, co-occurrence counts, Zernike sums) are ``bincount`` /
sort passes over all objects' pixels together. A box read at a step (larger than
:data:`~specimen_imaging.descriptors.MAX_PATCH_PIXELS`) goes through the reference function.

The reference and this path agree within float rounding (1e-9 relative; the tests compare
them on many random objects); when a group of :data:`~specimen_imaging.descriptors.GROUPS`
changes there, :func:`describe_objects_batch` falls back to the reference (see
:data:`BATCHED_GROUPS`) until this module follows.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_imaging import descriptors as ref
from specimen_imaging.grouped import group_percentiles, ranked_by_histogram
from specimen_imaging.mosaic import shelf_layout

MOSAIC_PIXELS = 1 << 22
"""Most box pixels copied into one mosaic; more objects are described a mosaic at a time."""

GAP = 2
"""Zero pixels between two boxes of the mosaic and around it: LBP reads 1 pixel around a box
(zeros outside, as the reference pads), thinning and its 3x3 neighbour counts 1 more."""

BATCHED_GROUPS: dict[str, tuple[str, ...]] = {
    "intensity": (
        "intensity_p10", "intensity_p25", "intensity_p50", "intensity_p75", "intensity_p90",
        "intensity_skewness", "intensity_kurtosis", "intensity_entropy", "background_level",
        "contrast", "contrast_ratio",
    ),
    "texture": (
        "glcm_contrast", "glcm_dissimilarity", "glcm_homogeneity", "glcm_asm", "glcm_energy",
        "glcm_correlation", *(f"lbp_{i}" for i in range(10)),
    ),
    "contour": (
        *(f"fourier_{k}" for k in range(1, 8)),
        "convexity_defects", "convexity_defect_depth_max", "convexity_defect_depth_sum",
    ),
    "skeleton": ("skeleton_length", "skeleton_length_ratio", "skeleton_endpoints", "skeleton_branch_points"),
    "zernike": tuple(
        f"zernike_{n}_{m}" for n in range(7) for m in range(n + 1)
        if (n - m) % 2 == 0 and (n, m) not in ((0, 0), (1, 1))
    ),
    "colour": ("lab_l_mean", "lab_a_mean", "lab_b_mean", "lab_a_std", "lab_b_std", "lab_chroma_mean"),
}
"""The groups (names, order) this module computes, as the reference defined them when it was
written; any difference from :data:`~specimen_imaging.descriptors.GROUPS` or its constants
sends every object to the reference."""

_CONSTANTS = {"GLCM_LEVELS": 16, "ENTROPY_BINS": 32, "CONTOUR_POINTS": 64, "LBP_BINS": 10, "PATCH_PADDING": 2}


def batch_supported() -> bool:
    """Whether the reference still defines what this module computes."""
    return ref.GROUPS == BATCHED_GROUPS and all(getattr(ref, k, None) == v for k, v in _CONSTANTS.items())


def _lab_values(
    gray: npt.NDArray[Any], color: npt.NDArray[Any] | None, scale: float
) -> npt.NDArray[np.float64]:
    """Lab of the given pixels (1-D gray, or (n, c) colour), float32 as the reference, as float64."""
    if color is None:
        unit = np.clip(gray.astype(np.float64) / scale, 0.0, 1.0).astype(np.float32)
        rgb = np.repeat(unit[None, :, None], 3, axis=2)
    else:
        rgb = np.clip(color[None, :, :3].astype(np.float32) / scale, 0.0, 1.0)
    lab = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab), np.float32)[0]
    if color is None:
        lab[:, 1:] = 0.0
    result: npt.NDArray[np.float64] = lab.astype(np.float64)
    return result


def local_binary_pattern_at(gray: npt.NDArray[Any], at: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """:func:`~specimen_imaging.descriptors.local_binary_pattern`'s codes at the flat indices
    ``at`` only (pixels at least 1 px inside ``gray``): the same samples and float64 sums, read
    at those pixels instead of computed for the whole image."""
    width = gray.shape[1]
    flat = gray.ravel()
    read: dict[tuple[int, int], npt.NDArray[np.float64]] = {}

    def value(dy: int, dx: int) -> npt.NDArray[np.float64]:
        if (dy, dx) not in read:
            read[dy, dx] = flat[at + (dy * width + dx)].astype(np.float64)
        return read[dy, dx]

    centre = value(0, 0)
    signs = []
    for rp, cp in ref._LBP_OFFSETS:
        min_r, max_r = math.floor(rp), math.ceil(rp)
        min_c, max_c = math.floor(cp), math.ceil(cp)
        dr, dc = rp - min_r, cp - min_c
        top = (1 - dc) * value(min_r, min_c) + dc * value(min_r, max_c)
        bottom = (1 - dc) * value(max_r, min_c) + dc * value(max_r, max_c)
        signs.append(((1 - dr) * top + dr * bottom) - centre >= 0)
    stack = np.stack(signs)
    changes = (stack[1:] != stack[:-1]).sum(axis=0)
    out: npt.NDArray[np.intp] = np.where(changes <= 2, stack.sum(axis=0), len(ref._LBP_OFFSETS) + 1)
    return out


def fourier_rows(contours: list[npt.NDArray[Any] | None]) -> npt.NDArray[np.float64]:
    """:func:`~specimen_imaging.descriptors.fourier_descriptors` of many contours at once.

    The contours' closed polylines are laid side by side in rows padded with zero steps (a
    cumulative sum along a row is the same left-to-right sum), each resampling point's
    segment is found by one sort of all points and segment ends (ties put the end first, as
    ``np.interp`` takes ``xp[j] <= x``), the interpolation is ``np.interp``'s formula, and the
    FFTs run as one call: the same numbers as one contour at a time (tested). A contour with
    a zero-length step (repeated point), whose ``np.interp`` is ambiguous, goes through the
    reference.
    """
    n = len(contours)
    out = np.zeros((n, 7))
    sizes = np.array([0 if c is None else len(c) for c in contours], np.int64)
    rows = np.flatnonzero(sizes >= 3)
    if rows.size == 0:
        return out
    size = sizes[rows]
    width = int(size.max()) + 1
    xs = np.zeros((rows.size, width))
    ys = np.zeros((rows.size, width))
    for i, k in enumerate(rows.tolist()):
        points = contours[k].reshape(-1, 2)  # type: ignore[union-attr]
        m = points.shape[0]
        xs[i, :m] = points[:, 0]
        ys[i, :m] = points[:, 1]
        xs[i, m] = points[0, 0]
        ys[i, m] = points[0, 1]
    valid = np.arange(width)[None, :] <= size[:, None]  # points 0..m of each closed polyline
    steps = np.hypot(np.diff(xs, axis=1), np.diff(ys, axis=1))
    steps[~valid[:, 1:]] = 0.0
    along = np.zeros((rows.size, width))
    np.cumsum(steps, axis=1, out=along[:, 1:])
    total = along[np.arange(rows.size), size]
    positive = np.where(valid[:, 1:], steps > 0, True).all(axis=1)
    for i in np.flatnonzero(~positive).tolist():
        out[rows[i]] = ref.fourier_descriptors(contours[rows[i]])
    keep = positive & (total > 0)
    if not keep.any():
        return out
    rows, size, xs, ys, along, total, valid = (
        rows[keep], size[keep], xs[keep], ys[keep], along[keep], total[keep], valid[keep]
    )
    count = rows.size
    points = ref.CONTOUR_POINTS
    at = np.linspace(0.0, total, points, endpoint=False, axis=1)  # (count, points)
    # Segment of each resampling point: how many polyline points (<= it) precede it in its row.
    node_row = np.broadcast_to(np.arange(count)[:, None], along.shape)[valid]
    node_val = along[valid]
    at_row = np.repeat(np.arange(count), points)
    keys_row = np.concatenate([node_row, at_row])
    keys_val = np.concatenate([node_val, at.ravel()])
    kind = np.concatenate([np.zeros(node_val.size, np.int8), np.ones(at_row.size, np.int8)])
    order = np.lexsort((kind, keys_val, keys_row))
    is_at = kind[order] == 1
    seen = np.cumsum(~is_at)  # polyline points up to and including each position
    row_start = np.cumsum(size + 1) - (size + 1)  # polyline points before each row
    j = (seen[is_at] - row_start[at_row]).reshape(count, points) - 1  # at_row is sorted as order
    j_next = np.minimum(j + 1, size[:, None])
    take = np.take_along_axis
    x0, x1 = take(along, j, 1), take(along, j_next, 1)
    result = []
    for values in (xs, ys):
        y0, y1 = take(values, j, 1), take(values, j_next, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = (y1 - y0) / (x1 - x0)
            inside = slope * (at - x0) + y0
        result.append(np.where((x0 == at) | (j == size[:, None]), y0, inside))
    z = result[0] + 1j * result[1]
    spectrum = np.abs(np.fft.fft(z, axis=1)) / points
    first = np.maximum(spectrum[:, 1], spectrum[:, -1])
    ok = first > 1e-12
    rows_ok, spectrum, first = rows[ok], spectrum[ok], first[ok][:, None]
    out[rows_ok, 0] = np.minimum(spectrum[:, 1], spectrum[:, -1]) / first[:, 0]
    orders = np.arange(2, 8)
    # math.hypot as the reference (NumPy's hypot may differ from it in the last bit).
    pairs = zip(spectrum[:, orders].ravel().tolist(), spectrum[:, -orders].ravel().tolist(), strict=True)
    norms = np.fromiter(itertools.starmap(math.hypot, pairs), np.float64, orders.size * rows_ok.size)
    out[rows_ok, 1:] = norms.reshape(-1, orders.size) / first
    return out


@functools.cache
def _radial_coefficients(n: int, m: int) -> tuple[tuple[int, float], ...]:
    """``(k, c)``: the Zernike radial polynomial ``R_n^m(rho) = sum c rho^k``."""
    return tuple(
        (n - 2 * t,
         (-1) ** t * math.factorial(n - t)
         / (math.factorial(t) * math.factorial((n + m) // 2 - t) * math.factorial((n - m) // 2 - t)))
        for t in range((n - m) // 2 + 1)
    )


@functools.cache
def _zernike_moments(orders: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """The ``(k, m)`` of the moments ``sum rho^(k-m) (rho e^{i theta})^m`` (k > 0) the orders need."""
    return tuple(sorted({(k, zm) for zn, zm in orders for k, _ in _radial_coefficients(zn, zm) if k > 0}))


def _zernike_sums(
    obj: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    dr: npt.NDArray[np.float64],
    dcol: npt.NDArray[np.float64],
    rho: npt.NDArray[np.float64],
    radius: npt.NDArray[np.float64],
    area: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """``zernike_n_m`` of each object (:data:`~specimen_imaging.descriptors.ZERNIKE_ORDERS`
    order) from its pixels' offsets to its centroid, grouped by object (``obj`` ascending).

    ``Z_nm = sum R_nm(rho) e^{i m theta}`` is linear in the powers of rho, so each object's
    moments ``sum rho^(k-m) (rho e^{i theta})^m`` (16 of them for orders up to 6) are summed in
    one pass over a pixel-by-moment table, and each order is then its radial polynomial's
    combination of them: no polynomial per pixel and order (within 1e-14 of the reference).
    """
    n = counts.size
    orders = ref.ZERNIKE_ORDERS
    needed = _zernike_moments(orders)
    # rho e^{i theta} = (dcol + i dr) / radius; 0 at the centroid, where every rho^k (k > 0) is 0.
    z = (dcol + 1j * dr) / radius[obj]
    z_powers = {1: z}
    rho2_powers = {1: rho * rho}
    for e in range(2, 7):
        z_powers[e] = z_powers[e - 1] * z
    for e in range(2, 4):
        rho2_powers[e] = rho2_powers[e - 1] * rho2_powers[1]
    # One row per moment's real and imaginary parts (each row contiguous: a segment sum per object).
    table = np.empty((len(needed), 2, obj.size))
    for j, (k, m) in enumerate(needed):
        if m == 0:
            table[j, 0] = rho2_powers[k // 2]
            table[j, 1] = 0.0
            continue
        value = z_powers[m] if k == m else z_powers[m] * rho2_powers[(k - m) // 2]
        table[j, 0] = value.real
        table[j, 1] = value.imag
    sums = np.zeros((len(needed), 2, n))
    present = counts > 0
    if obj.size:
        sums[:, :, present] = np.add.reduceat(table, starts[present], axis=2)
    moments = {key: sums[j, 0] + 1j * sums[j, 1] for j, key in enumerate(needed)}
    out = np.empty((n, len(orders)))
    for i, (zn, zm) in enumerate(orders):
        total = np.zeros(n, np.complex128)
        for k, coefficient in _radial_coefficients(zn, zm):
            total += coefficient * (moments[k, zm] if k > 0 else counts.astype(np.float64))
        out[:, i] = (zn + 1) * np.hypot(total.real, total.imag) / area
    return out


def describe_objects_batch(
    labels: npt.NDArray[Any],
    ids: npt.NDArray[np.int64],
    bboxes: npt.NDArray[np.int64],
    gray: npt.NDArray[Any],
    color: npt.NDArray[Any] | None,
) -> npt.NDArray[np.float64]:
    """:func:`specimen_imaging.descriptors.describe_objects`, all objects at once (same rows)."""
    if not batch_supported():
        return ref.describe_objects(labels, ids, bboxes, gray, color)
    n_all = int(ids.size)
    out = np.empty((n_all, len(ref.DESCRIPTOR_NAMES)))
    if n_all == 0:
        return out
    h, w = labels.shape
    scale = ref.full_scale(gray.dtype)
    pad = ref.PATCH_PADDING
    boxes: list[tuple[int, int, int, int, int, int]] = []  # (index, label, grown box), read whole
    for i, (label, (r0, c0, r1, c1)) in enumerate(zip(ids.tolist(), bboxes.tolist(), strict=True)):
        r0, c0 = max(r0 - pad, 0), max(c0 - pad, 0)
        r1, c1 = min(r1 + pad, h), min(c1 + pad, w)
        if (r1 - r0) * (c1 - c0) > ref.MAX_PATCH_PIXELS:
            out[i] = ref.describe_objects(labels, ids[i : i + 1], bboxes[i : i + 1], gray, color)[0]
        else:
            boxes.append((i, label, r0, c0, r1, c1))
    if not boxes:
        return out
    # A chunk of boxes at a time, so the mosaic's temporaries stay bounded like the reference's
    # one box at a time (many large overlapping boxes would otherwise make a huge mosaic).
    chunk: list[tuple[int, int, int, int, int, int]] = []
    pixels = 0
    for item in boxes:
        area = (item[4] - item[2]) * (item[5] - item[3])
        if chunk and pixels + area > MOSAIC_PIXELS:
            _describe_chunk(out, chunk, bboxes, labels, gray, color, scale)
            chunk, pixels = [], 0
        chunk.append(item)
        pixels += area
    if chunk:
        _describe_chunk(out, chunk, bboxes, labels, gray, color, scale)
    return out


def _describe_chunk(
    out: npt.NDArray[np.float64],
    boxes: list[tuple[int, int, int, int, int, int]],
    bboxes: npt.NDArray[np.int64],
    labels: npt.NDArray[Any],
    gray: npt.NDArray[Any],
    color: npt.NDArray[Any] | None,
    scale: float,
) -> None:
    """The rows of ``boxes`` (index, label, grown box) into ``out``, from one mosaic
    (``bboxes``: every object's own box, by index)."""
    index = np.array([b[0] for b in boxes], np.int64)
    heights = [b[4] - b[2] for b in boxes]
    widths = [b[5] - b[3] for b in boxes]
    corners, mh, mw = shelf_layout(heights, widths, GAP)
    n = len(boxes)
    owner = np.full((mh, mw), -1, np.int32)  # the object whose own pixel this is
    local = np.full((mh, mw), -1, np.int32)  # the object whose unlabelled (background) pixel this is
    mgray = np.zeros((mh, mw), gray.dtype)
    mcolor = None if color is None else np.zeros((mh, mw, color.shape[2]), color.dtype)
    for k, ((_, label, r0, c0, r1, c1), (y, x)) in enumerate(zip(boxes, corners, strict=True)):
        box = labels[r0:r1, c0:c1]
        ph, pw = r1 - r0, c1 - c0
        owner[y : y + ph, x : x + pw][box == label] = k
        local[y : y + ph, x : x + pw][box == 0] = k
        mgray[y : y + ph, x : x + pw] = gray[r0:r1, c0:c1]
        if mcolor is not None and color is not None:
            mcolor[y : y + ph, x : x + pw] = color[r0:r1, c0:c1]
    own = owner >= 0
    flat_own = np.flatnonzero(own)  # raster order of the mosaic: each object's pixels in its raster order
    obj = owner.ravel()[flat_own].astype(np.int64)
    # Each object's pixels together, in the object's own raster order (a stable sort by owner).
    order = np.argsort(obj, kind="stable")
    flat_own, obj = flat_own[order], obj[order]
    counts = np.bincount(obj, minlength=n)
    starts = np.cumsum(counts) - counts
    area = counts.astype(np.float64)
    values = mgray.ravel()[flat_own].astype(np.float64)

    # Intensity distribution and local background.
    bins = ref.ENTROPY_BINS
    quantiles = [10.0, 25.0, 50.0, 75.0, 90.0]
    if gray.dtype == np.uint8:
        # Each object's 256-bin histogram gives its sorted values (no sort of its pixels) and,
        # its bins summed by entropy bin, the entropy histogram: the same counts and values.
        hist256 = np.bincount(obj * 256 + mgray.ravel()[flat_own], minlength=n * 256).reshape(n, 256)
        percentiles = group_percentiles(ranked_by_histogram(hist256), counts, quantiles)
        entropy_bin = np.clip((np.arange(256, dtype=np.float64) / scale * bins).astype(np.intp), 0, bins - 1)
        histogram = hist256 @ (entropy_bin[:, None] == np.arange(bins)[None, :]).astype(np.int64)
    else:
        sorted_values = values[np.lexsort((values, obj))]
        percentiles = group_percentiles(
            lambda ranks: sorted_values[starts[:, None] + ranks], counts, quantiles)
        histogram = np.bincount(
            obj * bins + np.clip((values / scale * bins).astype(np.intp), 0, bins - 1), minlength=n * bins
        ).reshape(n, bins)
    mean = np.bincount(obj, values, n) / area
    centred = values - mean[obj]
    c2 = centred**2
    variance = np.bincount(obj, c2, n) / area
    m3 = np.bincount(obj, c2 * centred, n) / area
    m4 = np.bincount(obj, c2 * c2, n) / area
    positive = variance > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        skewness = np.where(positive, m3 / variance**1.5, 0.0)
        kurtosis = np.where(positive, m4 / variance**2 - 3.0, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = histogram / area[:, None]
        terms = np.where(histogram > 0, share * np.log2(np.where(histogram > 0, share, 1.0)), 0.0)
        entropy = -terms.sum(axis=1)
    flat_bg = np.flatnonzero(local >= 0)
    bg_obj = local.ravel()[flat_bg].astype(np.int64)
    bg_raw = mgray.ravel()[flat_bg]
    bg_counts = np.bincount(bg_obj, minlength=n)
    has_bg = bg_counts > 0
    background = mean.copy()
    if has_bg.any():
        bg_n = bg_counts[has_bg]
        if gray.dtype == np.uint8:
            # The two middle values from each object's 256-bin histogram: no sort of its pixels.
            cumulative = np.cumsum(
                np.bincount(bg_obj * 256 + bg_raw, minlength=n * 256).reshape(n, 256)[has_bg], axis=1
            )
            lo_mid = (cumulative <= ((bg_n - 1) // 2)[:, None]).sum(axis=1).astype(np.float64)
            hi_mid = (cumulative <= (bg_n // 2)[:, None]).sum(axis=1).astype(np.float64)
        else:
            bg_values = bg_raw.astype(np.float64)
            bg_sorted = bg_values[np.lexsort((bg_values, bg_obj))]
            bg_at = (np.cumsum(bg_counts) - bg_counts)[has_bg]
            lo_mid = bg_sorted[bg_at + (bg_n - 1) // 2]
            hi_mid = bg_sorted[bg_at + bg_n // 2]
        background[has_bg] = np.where(bg_n % 2 == 1, lo_mid, (lo_mid + hi_mid) / 2.0)
    contrast = background - mean
    ratio = contrast / np.maximum(np.maximum(background, mean), 0.01 * scale)

    # GLCM: levels between each object's own min and max, pairs of two own pixels.
    low = np.full(n, np.inf)
    high = np.full(n, -np.inf)
    np.minimum.at(low, obj, values)
    np.maximum.at(high, obj, values)
    span = high - low
    levels_n = ref.GLCM_LEVELS
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = span[obj]
        scaled = (values - low[obj]) / np.where(spread > 0, spread, 1.0) * levels_n
        lv = np.where(spread > 0, np.clip(scaled.astype(np.intp), 0, levels_n - 1), 0)
    flat_levels = np.zeros(mh * mw, np.intp)
    flat_levels[flat_own] = lv
    levels = flat_levels.reshape(mh, mw)
    cells = levels_n * levels_n
    counts_glcm = np.zeros((4, n, cells))
    for a_i, (sr, sc) in enumerate(((0, 1), (-1, 1), (-1, 0), (-1, -1))):
        r0, r1 = max(0, -sr), mh - max(0, sr)
        c0, c1 = max(0, -sc), mw - max(0, sc)
        both = own[r0:r1, c0:c1] & own[r0 + sr : r1 + sr, c0 + sc : c1 + sc]
        first = levels[r0:r1, c0:c1][both]
        second = levels[r0 + sr : r1 + sr, c0 + sc : c1 + sc][both]
        who = owner[r0:r1, c0:c1][both].astype(np.int64)
        counts_glcm[a_i] = np.bincount(who * cells + first * levels_n + second, minlength=n * cells).reshape(
            n, cells)
    p = counts_glcm.reshape(4, n, levels_n, levels_n)
    p = p + np.swapaxes(p, -1, -2)
    totals = p.sum(axis=(-2, -1))
    valid = totals > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        p = p / np.where(valid, totals, 1.0)[..., None, None]
    i_idx, j_idx = np.mgrid[0:levels_n, 0:levels_n]
    diff = (i_idx - j_idx).astype(np.float64)
    asm = (p**2).sum(axis=(-2, -1))
    mean_i = (i_idx * p).sum(axis=(-2, -1))
    mean_j = (j_idx * p).sum(axis=(-2, -1))
    std_i = np.sqrt((p * (i_idx - mean_i[..., None, None]) ** 2).sum(axis=(-2, -1)))
    std_j = np.sqrt((p * (j_idx - mean_j[..., None, None]) ** 2).sum(axis=(-2, -1)))
    cov = (p * (i_idx - mean_i[..., None, None]) * (j_idx - mean_j[..., None, None])).sum(axis=(-2, -1))
    flat_std = (std_i < 1e-15) | (std_j < 1e-15)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.where(flat_std, 1.0, cov / np.where(flat_std, 1.0, std_i * std_j))
    props = np.stack(
        [
            (p * diff**2).sum(axis=(-2, -1)),
            (p * np.abs(diff)).sum(axis=(-2, -1)),
            (p * (1.0 / (1.0 + diff**2))).sum(axis=(-2, -1)),
            asm,
            np.sqrt(asm),
            correlation,
        ],
        axis=-1,
    )  # (4, n, 6)
    used = valid.sum(axis=0)
    glcm = np.where(valid[..., None], props, 0.0).sum(axis=0) / np.maximum(used, 1)[:, None]
    glcm[used == 0] = 0.0

    lbp_codes = local_binary_pattern_at(mgray, flat_own)
    lbp_bins = ref.LBP_BINS
    wide = lbp_bins + 1
    lbp_counts = np.bincount(obj * wide + np.minimum(lbp_codes, lbp_bins), minlength=n * wide)
    lbp = lbp_counts.reshape(n, wide)[:, :lbp_bins] / area[:, None]

    # Contour (one OpenCV call per object on its own mask: the same contour as the reference).
    own_u8 = own.view(np.uint8)
    equivalent = np.sqrt(4 * area / np.pi)
    contour_rows = np.empty((n, 10))
    contours: list[npt.NDArray[Any] | None] = []
    for k, ((_, _, r0, c0, r1, c1), (y, x)) in enumerate(zip(boxes, corners, strict=True)):
        patch = own_u8[y : y + r1 - r0, x : x + c1 - c0]
        found, _ = cv2.findContours(patch, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        contour = np.asarray(max(found, key=len), np.int32) if found else None
        contours.append(contour)
        contour_rows[k, 7:] = ref.convexity_features(contour, float(equivalent[k]))
    contour_rows[:, :7] = fourier_rows(contours)

    # Skeleton: thinning of the whole mosaic (objects GAP apart thin independently).
    # Each object's own box alone (with 1 px of zeros around it): the thinning repeats until
    # nothing changes, so one thick object made every other box of a shared mosaic go through
    # its many passes, and each pass reads every pixel of the box it is given (the same
    # skeletons either way: the objects are apart).
    thinned = np.zeros((mh, mw), np.uint8)
    for (i, _, r0, c0, _, _), (y, x) in zip(boxes, corners, strict=True):
        top, left, bottom, right = (int(v) for v in bboxes[i])
        rows_k = slice(y + top - r0 - 1, y + bottom - r0 + 1)
        cols_k = slice(x + left - c0 - 1, x + right - c0 + 1)
        thinned[rows_k, cols_k] = cv2.ximgproc.thinning(
            own_u8[rows_k, cols_k] * np.uint8(255), thinningType=cv2.ximgproc.THINNING_ZHANGSUEN)
    skeleton = thinned > 0
    around = cv2.filter2D(
        skeleton.astype(np.float32), -1, ref._NEIGHBOURS, borderType=cv2.BORDER_CONSTANT
    ) - 1
    sk_flat = np.flatnonzero(skeleton)
    sk_obj = owner.ravel()[sk_flat].astype(np.int64)
    sk_around = around.ravel()[sk_flat]
    length = np.bincount(sk_obj, minlength=n).astype(np.float64)
    ends = np.bincount(sk_obj, (sk_around == 1).astype(np.float64), n)
    branches = np.bincount(sk_obj, (sk_around >= 3).astype(np.float64), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        sk_ratio = np.where(equivalent > 0, length / np.where(equivalent > 0, equivalent, 1.0), 0.0)
    skeleton_rows = np.column_stack([length, sk_ratio, ends, branches])
    skeleton_rows[length == 0] = 0.0

    # Zernike moments about each object's centroid, in its own box's coordinates.
    corner_y = np.array([c[0] for c in corners], np.int64)
    corner_x = np.array([c[1] for c in corners], np.int64)
    rr, cc = np.divmod(flat_own, mw)
    rows = (rr - corner_y[obj]).astype(np.float64)
    cols = (cc - corner_x[obj]).astype(np.float64)
    dr = rows - (np.bincount(obj, rows, n) / area)[obj]
    dcol = cols - (np.bincount(obj, cols, n) / area)[obj]
    distance = np.hypot(dr, dcol)
    far = np.full(n, -np.inf)
    np.maximum.at(far, obj, distance)
    zernike = _zernike_sums(obj, counts, starts, dr, dcol, distance / (far + 0.5)[obj], far + 0.5, area)

    # Colour.
    if mcolor is None:
        # Lab of a gray pixel depends on its value alone: convert each distinct value once. Its
        # a and b are 0 exactly, so are their means, deviations and the chroma.
        if gray.dtype.kind in "ui":
            raw = mgray.ravel()[flat_own]
            distinct_int = np.flatnonzero(np.bincount(raw))
            table = np.zeros(int(distinct_int[-1]) + 1)
            table[distinct_int] = _lab_values(distinct_int.astype(np.float64), None, scale)[:, 0]
            lightness = table[raw]
        else:
            distinct, inverse = np.unique(values, return_inverse=True)
            lightness = _lab_values(distinct, None, scale)[inverse.ravel(), 0]
        colour = np.zeros((n, 6))
        colour[:, 0] = np.bincount(obj, lightness, n) / area
    else:
        lab = _lab_values(values, mcolor.reshape(-1, mcolor.shape[2])[flat_own], scale)
        chroma = np.hypot(lab[:, 1], lab[:, 2])
        lab_mean = np.stack([np.bincount(obj, lab[:, j], n) / area for j in range(3)], axis=1)
        lab_std = np.stack(
            [np.sqrt(np.bincount(obj, (lab[:, j] - lab_mean[obj, j]) ** 2, n) / area) for j in (1, 2)], axis=1
        )
        colour = np.column_stack([lab_mean, lab_std, np.bincount(obj, chroma, n) / area])

    out[index] = np.column_stack(
        [
            percentiles,
            skewness, kurtosis, entropy, background / scale, contrast / scale, ratio,
            glcm,
            lbp,
            contour_rows,
            skeleton_rows,
            zernike,
            colour,
        ]
    )
