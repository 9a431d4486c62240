"""Feature set 2's per-object descriptors: intensity distribution, texture, contour, skeleton, colour.

:func:`specimen_imaging.measurements.measure_objects` computes feature set 1 for all objects at
once; the descriptors here are added by feature set 2 and computed object by object, each on
its bounding box grown by :data:`PATCH_PADDING` pixels (so the texture sees real neighbours),
which keeps the temporaries the size of one object's box. Every group is pixel-free for the
classifier: numbers that summarise the object, not its pixels.

Definitions (one object's pixels = the pixels of its label; ``full_scale`` the intensity range
of the image's dtype: 255 for uint8, 65535 for uint16, 1 for floats):

* **intensity**: ``intensity_p10..p90`` the 10/25/50/75/90th percentiles (numpy's linear
  interpolation) of the gray values; ``intensity_skewness`` and ``intensity_kurtosis`` the
  population skewness and excess kurtosis (``scipy.stats.skew/kurtosis`` with ``bias=True``;
  0 for a constant object); ``intensity_entropy`` the Shannon entropy in bits of their
  histogram in :data:`ENTROPY_BINS` equal bins of ``[0, full_scale]``.
* **background**: ``background_level`` the median gray of the unlabelled pixels of the grown
  box, over ``full_scale`` (the object's mean when there is none); ``contrast`` (background -
  mean) / ``full_scale`` (positive for a dark object on a light background);
  ``contrast_ratio`` (background - mean) / max(background, mean, 1 % of ``full_scale``), which
  an illumination gain does not change.
* **texture**: ``glcm_*`` scikit-image's ``graycoprops`` (contrast, dissimilarity,
  homogeneity, ASM, energy, correlation) of the symmetric, normalised co-occurrence matrix at
  distance 1, angles 0, π/4, π/2, 3π/4 (averaged over the angles that have pairs), counting
  only pairs of two object pixels, gray levels quantised to :data:`GLCM_LEVELS` between the
  object's own min and max (so it is contrast- and gain-invariant); ``lbp_0..lbp_9`` the
  normalised histogram over the object's pixels of scikit-image's ``local_binary_pattern``
  (P=8, R=1, ``method="uniform"``) of the gray image.
* **contour**: ``fourier_1`` the smaller over the larger of the ±1st Fourier coefficients of
  the outer contour resampled to :data:`CONTOUR_POINTS` points by arc length (an ellipse's
  axis ratio, roughly), ``fourier_2..fourier_7`` sqrt(|Z_k|² + |Z_-k|²) over the larger first
  coefficient (invariant to position, scale, rotation, start point and mirroring);
  ``convexity_defects`` the number of OpenCV convexity defects deeper than 10 % of the
  equivalent diameter (at least 1 px), ``convexity_defect_depth_max`` the deepest over the
  equivalent diameter, ``convexity_defect_depth_sum`` the sum of all depths over the contour's
  length.
* **skeleton**: Zhang-Suen thinning (OpenCV ``ximgproc.thinning``) of the object's mask:
  ``skeleton_length`` its pixel count, ``skeleton_length_ratio`` that over the equivalent
  diameter (a straight rod: ~1 per diameter of its length; spines and setae add to it),
  ``skeleton_endpoints`` and ``skeleton_branch_points`` its pixels with one and with three or
  more 8-neighbours on the skeleton.
* **zernike**: ``zernike_n_m`` (n ≤ 6, m ≥ 0, n - m even, (0,0) and (1,1) left out) the
  magnitude (n + 1) · |Σ R_nm(rho) e^{-i m theta}| / area over the object's pixel centres, rho the
  distance to the centroid over the largest such distance (+0.5 px): rotation- and
  scale-invariant shape moments.
* **colour**: CIE Lab (OpenCV, D65, L in [0, 100]) of the object's pixels: ``lab_l_mean``,
  ``lab_a_mean``, ``lab_b_mean``, ``lab_a_std``, ``lab_b_std``, ``lab_chroma_mean`` (mean of
  sqrt(a² + b²)). A gray image's pixels have a = b = 0 exactly, and L of their gray.

A box larger than :data:`MAX_PATCH_PIXELS` is read every ``s``-th pixel in each direction
(the smallest ``s`` that fits), so one giant object holds a few megabytes of temporaries, not
gigabytes (a 400 px crop's object is read whole).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

PATCH_PADDING = 2
GLCM_LEVELS = 16
ENTROPY_BINS = 32
CONTOUR_POINTS = 64
LBP_BINS = 10
MAX_PATCH_PIXELS = 1 << 18
ZERNIKE_ORDERS: tuple[tuple[int, int], ...] = tuple(
    (n, m) for n in range(7) for m in range(n + 1) if (n - m) % 2 == 0 and (n, m) not in ((0, 0), (1, 1))
)

GROUPS: dict[str, tuple[str, ...]] = {
    "intensity": (
        "intensity_p10",
        "intensity_p25",
        "intensity_p50",
        "intensity_p75",
        "intensity_p90",
        "intensity_skewness",
        "intensity_kurtosis",
        "intensity_entropy",
        "background_level",
        "contrast",
        "contrast_ratio",
    ),
    "texture": (
        "glcm_contrast",
        "glcm_dissimilarity",
        "glcm_homogeneity",
        "glcm_asm",
        "glcm_energy",
        "glcm_correlation",
        *(f"lbp_{i}" for i in range(LBP_BINS)),
    ),
    "contour": (
        *(f"fourier_{k}" for k in range(1, 8)),
        "convexity_defects",
        "convexity_defect_depth_max",
        "convexity_defect_depth_sum",
    ),
    "skeleton": ("skeleton_length", "skeleton_length_ratio", "skeleton_endpoints", "skeleton_branch_points"),
    "zernike": tuple(f"zernike_{n}_{m}" for n, m in ZERNIKE_ORDERS),
    "colour": ("lab_l_mean", "lab_a_mean", "lab_b_mean", "lab_a_std", "lab_b_std", "lab_chroma_mean"),
}
"""Feature set 2's added columns by group, in column order (the groups of the ablation)."""

DESCRIPTOR_NAMES: tuple[str, ...] = tuple(name for names in GROUPS.values() for name in names)

# skimage.feature.graycomatrix's angles 0, π/4, π/2, 3π/4 at distance 1, as (row, col) steps.
_GLCM_STEPS = ((0, 1), (-1, 1), (-1, 0), (-1, -1))
_LBP_POINTS = 8
# local_binary_pattern's sampling points for P=8, R=1, rounded as scikit-image rounds them.
_LBP_OFFSETS = [
    (round(-math.sin(2 * math.pi * p / _LBP_POINTS), 5), round(math.cos(2 * math.pi * p / _LBP_POINTS), 5))
    for p in range(_LBP_POINTS)
]
_NEIGHBOURS = np.ones((3, 3), np.float32)


def full_scale(dtype: np.dtype[Any]) -> float:
    """The intensity range the descriptors normalise by: the integer dtype's max, 1 for floats."""
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def glcm_properties(
    levels: npt.NDArray[np.intp], mask: npt.NDArray[np.bool_], n_levels: int = GLCM_LEVELS
) -> npt.NDArray[np.float64]:
    """``graycoprops`` of the masked co-occurrence matrices, averaged over the angles.

    Parameters
    ----------
    levels : ndarray of int, (h, w)
        Gray levels in ``[0, n_levels)``.
    mask : ndarray of bool, (h, w)
        Pairs count only when both pixels are in the mask.

    Returns
    -------
    ndarray, (6,)
        contrast, dissimilarity, homogeneity, ASM, energy, correlation (zeros when no pair).
    """
    h, w = levels.shape
    i_idx, j_idx = np.mgrid[0:n_levels, 0:n_levels]
    diff = (i_idx - j_idx).astype(np.float64)
    weights = {"contrast": diff**2, "dissimilarity": np.abs(diff), "homogeneity": 1.0 / (1.0 + diff**2)}
    rows = []
    for dr, dc in _GLCM_STEPS:
        r0, r1 = max(0, -dr), h - max(0, dr)
        c0, c1 = max(0, -dc), w - max(0, dc)
        a = levels[r0:r1, c0:c1]
        b = levels[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        both = mask[r0:r1, c0:c1] & mask[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        if not both.any():
            continue
        counts = np.bincount(a[both] * n_levels + b[both], minlength=n_levels * n_levels).astype(np.float64)
        p = counts.reshape(n_levels, n_levels)
        p = p + p.T
        p /= p.sum()
        asm = float((p**2).sum())
        mean_i = float((i_idx * p).sum())
        mean_j = float((j_idx * p).sum())
        std_i = math.sqrt(float((p * (i_idx - mean_i) ** 2).sum()))
        std_j = math.sqrt(float((p * (j_idx - mean_j) ** 2).sum()))
        if std_i < 1e-15 or std_j < 1e-15:
            correlation = 1.0  # as graycoprops: a constant matrix is perfectly correlated
        else:
            correlation = float((p * (i_idx - mean_i) * (j_idx - mean_j)).sum()) / (std_i * std_j)
        rows.append(
            [
                float((p * weights["contrast"]).sum()),
                float((p * weights["dissimilarity"]).sum()),
                float((p * weights["homogeneity"]).sum()),
                asm,
                math.sqrt(asm),
                correlation,
            ]
        )
    if not rows:
        return np.zeros(6)
    out: npt.NDArray[np.float64] = np.mean(rows, axis=0)
    return out


def local_binary_pattern(gray: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
    """scikit-image's ``local_binary_pattern(gray, 8, 1, "uniform")``: codes 0..9.

    The same sampling points, bilinear interpolation (zero outside the image) and comparisons
    in float64; only vectorised over the image instead of looped over pixels.
    """
    image = np.asarray(gray, np.float64)
    h, w = image.shape
    padded = np.zeros((h + 4, w + 4))
    padded[2:-2, 2:-2] = image
    signs = []
    for rp, cp in _LBP_OFFSETS:
        min_r, max_r = math.floor(rp), math.ceil(rp)
        min_c, max_c = math.floor(cp), math.ceil(cp)
        dr, dc = rp - min_r, cp - min_c

        def at(dy: int, dx: int) -> npt.NDArray[np.float64]:
            return padded[2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w]

        top = (1 - dc) * at(min_r, min_c) + dc * at(min_r, max_c)
        bottom = (1 - dc) * at(max_r, min_c) + dc * at(max_r, max_c)
        signs.append(((1 - dr) * top + dr * bottom) - image >= 0)
    stack = np.stack(signs)
    del signs
    # Transitions between consecutive points only (no wrap-around), as scikit-image counts them.
    changes = (stack[1:] != stack[:-1]).sum(axis=0)
    out: npt.NDArray[np.intp] = np.where(changes <= 2, stack.sum(axis=0), _LBP_POINTS + 1)
    return out


def _contour(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32] | None:
    found, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not found:
        return None
    best: npt.NDArray[np.int32] = np.asarray(max(found, key=len), np.int32)
    return best


def fourier_descriptors(contour: npt.NDArray[Any] | None) -> npt.NDArray[np.float64]:
    """``fourier_1..7`` of an OpenCV contour (zeros for fewer than 3 points or no extent)."""
    out = np.zeros(7)
    if contour is None or len(contour) < 3:
        return out
    points = contour.reshape(-1, 2).astype(np.float64)
    closed = np.vstack([points, points[:1]])
    steps = np.hypot(*np.diff(closed, axis=0).T)
    along = np.r_[0.0, np.cumsum(steps)]
    if along[-1] <= 0:
        return out
    at = np.linspace(0.0, along[-1], CONTOUR_POINTS, endpoint=False)
    z = np.interp(at, along, closed[:, 0]) + 1j * np.interp(at, along, closed[:, 1])
    spectrum = np.abs(np.fft.fft(z)) / CONTOUR_POINTS
    first = max(spectrum[1], spectrum[-1])
    if first <= 1e-12:
        return out
    out[0] = min(spectrum[1], spectrum[-1]) / first
    for k in range(2, 8):
        out[k - 1] = math.hypot(spectrum[k], spectrum[-k]) / first
    return out


def convexity_features(
    contour: npt.NDArray[Any] | None, equivalent_diameter: float
) -> npt.NDArray[np.float64]:
    """``convexity_defects``, ``convexity_defect_depth_max``, ``convexity_defect_depth_sum``."""
    if contour is None or len(contour) < 4 or equivalent_diameter <= 0:
        return np.zeros(3)
    try:
        hull = cv2.convexHull(contour, returnPoints=False)
        defects = cv2.convexityDefects(contour, hull) if hull is not None and len(hull) > 2 else None
    except cv2.error:  # OpenCV refuses self-intersecting (non-monotonous) hull index lists
        defects = None
    if defects is None or len(defects) == 0:
        return np.zeros(3)
    depths = np.asarray(defects).reshape(-1, 4)[:, 3].astype(np.float64) / 256.0
    length = float(cv2.arcLength(contour, True)) or 1.0
    deep = depths > max(1.0, 0.1 * equivalent_diameter)
    return np.array(
        [float(deep.sum()), float(depths.max()) / equivalent_diameter, float(depths.sum()) / length]
    )


def skeleton_features(mask: npt.NDArray[np.bool_], equivalent_diameter: float) -> npt.NDArray[np.float64]:
    """``skeleton_length``, ``skeleton_length_ratio``, ``skeleton_endpoints``, ``skeleton_branch_points``."""
    padded = np.pad(mask.astype(np.uint8) * 255, 1)
    skeleton = cv2.ximgproc.thinning(padded, thinningType=cv2.ximgproc.THINNING_ZHANGSUEN) > 0
    length = float(skeleton.sum())
    if length == 0:
        return np.zeros(4)
    around = cv2.filter2D(skeleton.astype(np.float32), -1, _NEIGHBOURS, borderType=cv2.BORDER_CONSTANT) - 1
    ends = float((skeleton & (around == 1)).sum())
    branches = float((skeleton & (around >= 3)).sum())
    ratio = length / equivalent_diameter if equivalent_diameter > 0 else 0.0
    return np.array([length, ratio, ends, branches])


def _radial(n: int, m: int, rho: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    total = np.zeros_like(rho)
    for s in range((n - m) // 2 + 1):
        c = (
            (-1) ** s
            * math.factorial(n - s)
            / (math.factorial(s) * math.factorial((n + m) // 2 - s) * math.factorial((n - m) // 2 - s))
        )
        total += c * rho ** (n - 2 * s)
    return total


def zernike_magnitudes(
    rows: npt.NDArray[np.float64], cols: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``zernike_n_m`` of a set of pixel centres, in :data:`ZERNIKE_ORDERS` order."""
    dr, dc = rows - rows.mean(), cols - cols.mean()
    distance = np.hypot(dr, dc)
    rho = distance / (distance.max() + 0.5)
    theta = np.arctan2(dr, dc)
    area = rows.size
    out = np.empty(len(ZERNIKE_ORDERS))
    for i, (n, m) in enumerate(ZERNIKE_ORDERS):
        radial = _radial(n, m, rho)
        re, im = (radial * np.cos(m * theta)).sum(), (radial * np.sin(m * theta)).sum()
        out[i] = (n + 1) * math.hypot(re, im) / area
    return out


def _lab(
    color: npt.NDArray[Any] | None, gray: npt.NDArray[np.float64], scale: float
) -> npt.NDArray[np.float32]:
    if color is None:
        unit = np.clip(gray / scale, 0.0, 1.0).astype(np.float32)
        rgb = np.repeat(unit[:, :, None], 3, axis=2)
    else:
        rgb = np.clip(color[:, :, :3].astype(np.float32) / scale, 0.0, 1.0)
    lab: npt.NDArray[np.float32] = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab), np.float32)
    if color is None:
        lab[:, :, 1:] = 0.0  # gray has no chroma; OpenCV's float path leaves ~1e-5 of it
    return lab


def describe_object(
    own: npt.NDArray[np.bool_],
    unlabelled: npt.NDArray[np.bool_],
    gray: npt.NDArray[Any],
    color: npt.NDArray[Any] | None,
    scale: float,
) -> npt.NDArray[np.float64]:
    """The :data:`DESCRIPTOR_NAMES` row of one object, from its (grown) box.

    Parameters
    ----------
    own : ndarray of bool, (h, w)
        The object's pixels in the box.
    unlabelled : ndarray of bool, (h, w)
        The box's pixels of no object (its local background).
    gray : ndarray, (h, w)
        The box's gray values.
    color : ndarray, (h, w, 3|4), optional
        The box's RGB(A) values when the image is in colour.
    scale : float
        :func:`full_scale` of the image's dtype.
    """
    values = gray[own].astype(np.float64)
    area = values.size
    equivalent_diameter = math.sqrt(4 * area / math.pi)
    percentiles = np.percentile(values, [10, 25, 50, 75, 90])
    mean = float(values.mean())
    centred = values - mean
    variance = float((centred**2).mean())
    if variance > 0:
        skewness = float((centred**3).mean()) / variance**1.5
        kurtosis = float((centred**4).mean()) / variance**2 - 3.0
    else:
        skewness = kurtosis = 0.0
    histogram = np.bincount(
        np.clip((values / scale * ENTROPY_BINS).astype(np.intp), 0, ENTROPY_BINS - 1), minlength=ENTROPY_BINS
    )
    share = histogram[histogram > 0] / area
    entropy = float(-(share * np.log2(share)).sum())
    background = float(np.median(gray[unlabelled])) if unlabelled.any() else mean
    contrast = background - mean
    ratio = contrast / max(background, mean, 0.01 * scale)

    low, high = float(values.min()), float(values.max())
    span = high - low
    if span > 0:
        levels = np.clip(
            ((gray.astype(np.float64) - low) / span * GLCM_LEVELS).astype(np.intp), 0, GLCM_LEVELS - 1
        )
    else:
        levels = np.zeros(gray.shape, np.intp)
    glcm = glcm_properties(levels, own)
    lbp = np.bincount(local_binary_pattern(gray)[own], minlength=LBP_BINS)[:LBP_BINS] / area

    contour = _contour(own)
    rows, cols = np.nonzero(own)
    lab = _lab(color, gray.astype(np.float64), scale)[own].astype(np.float64)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    return np.concatenate(
        [
            percentiles,
            [skewness, kurtosis, entropy, background / scale, contrast / scale, ratio],
            glcm,
            lbp,
            fourier_descriptors(contour),
            convexity_features(contour, equivalent_diameter),
            skeleton_features(own, equivalent_diameter),
            zernike_magnitudes(rows.astype(np.float64), cols.astype(np.float64)),
            [
                lab[:, 0].mean(),
                lab[:, 1].mean(),
                lab[:, 2].mean(),
                lab[:, 1].std(),
                lab[:, 2].std(),
                chroma.mean(),
            ],
        ]
    )


def describe_objects(
    labels: npt.NDArray[Any],
    ids: npt.NDArray[np.int64],
    bboxes: npt.NDArray[np.int64],
    gray: npt.NDArray[Any],
    color: npt.NDArray[Any] | None,
) -> npt.NDArray[np.float64]:
    """One :data:`DESCRIPTOR_NAMES` row per object (``ids`` with their ``bboxes``, max exclusive).

    Parameters
    ----------
    labels : ndarray of int, (h, w)
    ids, bboxes : ndarray
        As :class:`~specimen_imaging.measurements.ObjectMeasurements` gives them.
    gray : ndarray, (h, w)
        The gray image the intensity and texture groups read.
    color : ndarray, (h, w, 3|4), optional
        The RGB(A) image when the input is in colour (the colour group reads it).
    """
    h, w = labels.shape
    scale = full_scale(gray.dtype)
    out = np.empty((ids.size, len(DESCRIPTOR_NAMES)))
    for i, (label, (r0, c0, r1, c1)) in enumerate(zip(ids.tolist(), bboxes.tolist(), strict=True)):
        r0, c0 = max(r0 - PATCH_PADDING, 0), max(c0 - PATCH_PADDING, 0)
        r1, c1 = min(r1 + PATCH_PADDING, h), min(c1 + PATCH_PADDING, w)
        step = max(1, math.ceil(math.sqrt((r1 - r0) * (c1 - c0) / MAX_PATCH_PIXELS)))
        box = labels[r0:r1:step, c0:c1:step]
        own = box == label
        if not own.any():  # a giant thin object read every s-th pixel may miss all of them
            own = np.zeros(box.shape, bool)
            own[np.unravel_index(0, box.shape)] = True
        out[i] = describe_object(
            own,
            box == 0,
            gray[r0:r1:step, c0:c1:step],
            None if color is None else color[r0:r1:step, c0:c1:step],
            scale,
        )
    return out
