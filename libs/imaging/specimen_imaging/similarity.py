"""Similarity descriptors: one short vector per image or per selected region, without weights.

A descriptor says what a region *looks like* (colour, texture, outline, edge layout) in a few
dozen numbers, so that images are compared by the cosine of their vectors. Nothing is
downloaded: every group is a fixed computation, and the only learned part — the
standardisation and the PCA basis — is fitted on a generated corpus and shipped with the code
(:data:`BASIS_FILE`), versioned as :data:`DESCRIPTOR_SET_VERSION` like the object features.

How one region is described (``region`` = the mask's pixels; the whole image without a mask):

1. The region's bounding box is cut out and resampled (``INTER_AREA``) to
   :data:`SIDE` x :data:`SIDE` pixels, its mask with it (a pixel is inside when at least half of
   it was); pixels of the box outside the region are first given the region's mean colour.
   So the descriptor depends on the region's pixels and outline alone, not on its position,
   its size or anything around it, and its cost hardly depends on the image's size.
2. Raw groups, every statistic over the region's pixels only:

   * **colour** (30): CIE Lab (OpenCV, 8-bit scale divided back to L in 0..100, a/b in
     -128..127): marginal histograms of L, a and b in :data:`COLOUR_BINS` bins each
     (normalised), then the mean and standard deviation of each channel over 100.
   * **texture** (18): the uniform LBP histogram (the 8 pixels of the 3x3 square, a bit set
     where the neighbour is >= the centre; patterns with at most two 0/1 changes counted by
     their ones 0..8, the rest in bin 9 — scikit-image's ``method="uniform"`` codes, on the
     square rather than its interpolated circle) of the region's pixels whose 3x3
     neighbourhood lies in the region;
     GLCM contrast, homogeneity, energy and correlation at distances 1 and 2 (four angles,
     symmetric, pairs of two region pixels only, gray quantised to :data:`GLCM_LEVELS`
     between the region's own 1st and 99th percentiles, so a change of gain does not move it).
   * **shape** (10): the region's area over its box, the box's log aspect ratio, the
     region's share of the image, and its seven Hu moments (``-sign * log10|h|``).
   * **edges** (144): HOG-like: gradient orientations (9 unsigned bins) weighted by magnitude,
     in a 4x4 grid of cells, counting pixels of the region grown by one pixel (its outline
     is an edge too); each cell L2-normalised.
3. Each raw value is standardised by the corpus's mean and spread; each group is then divided
   by the square root of its length so that the 144 edge numbers weigh as much as the 10 shape
   numbers, and multiplied by its weight in :data:`GROUP_WEIGHTS`.
4. The result is projected on the corpus's first :data:`DIMENSIONS` principal axes and
   L2-normalised: the inner product of two descriptors is their cosine similarity.

Every step is deterministic: the same pixels and mask give the same vector, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_imaging.arrays import check_image, check_mask, to_rgb
from specimen_imaging.grouped import group_percentiles, ranked_by_histogram
from specimen_kit.errors import InvalidParameter

DESCRIPTOR_SET_VERSION = "1"
"""The descriptor set's version: vectors of two versions are never compared."""
SIDE = 64
COLOUR_BINS = 8
GLCM_LEVELS = 16
HOG_CELLS = 4
HOG_BINS = 9
DIMENSIONS = 48
"""Length of a descriptor (after the PCA)."""
MIN_REGION_PIXELS = 4
"""A region smaller than this (in the original image) has too few pixels to describe."""
WORK_SIDE = 256
"""Pictures are described on a copy whose longer side is at most this (``INTER_AREA``)."""

GROUPS: dict[str, int] = {
    "colour": 3 * COLOUR_BINS + 6,
    "texture": 10 + 8,
    "shape": 10,
    "edges": HOG_CELLS * HOG_CELLS * HOG_BINS,
}
"""Raw group lengths, in the order they are concatenated."""
RAW_LENGTH = sum(GROUPS.values())
GROUP_WEIGHTS: dict[str, float] = {"colour": 1.5, "texture": 1.0, "shape": 0.75, "edges": 1.0}
"""How much each group counts after standardisation (colour separates kinds best)."""

BASIS_FILE = Path(__file__).with_name("similarity_basis.npz")
"""Mean, scale and PCA axes fitted by ``scripts/fit_similarity_basis.py`` (see there)."""


@dataclass(frozen=True)
class Basis:
    """What turns raw groups into a descriptor: standardisation, then the PCA axes.

    Attributes
    ----------
    mean, scale : ndarray of float64, (RAW_LENGTH,)
        The corpus's mean and spread of each raw value (a spread of 0 is stored as 1).
    center : ndarray of float64, (RAW_LENGTH,)
        The mean of the standardised, weighted corpus (the PCA's centre).
    axes : ndarray of float64, (DIMENSIONS, RAW_LENGTH)
        The principal axes, rows of unit length.
    version : str
        The :data:`DESCRIPTOR_SET_VERSION` it was fitted for.
    """

    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    center: npt.NDArray[np.float64]
    axes: npt.NDArray[np.float64]
    version: str


# --- raw groups ---------------------------------------------------------------------------
#
# Regions are described a batch at a time: each region's working pixels (SIDE x SIDE) are
# stacked, and every group is computed over the stack at once (the per-region statistics are
# bincounts by region). A region's numbers do not depend on the others of its batch.

BATCH = 64
"""Regions whose working arrays are stacked at once (under ~10 MB of temporaries)."""
_RANGES = ((0.0, 100.0), (-128.0, 128.0), (-128.0, 128.0))
"""The histogram range of L, a and b."""


def _as_uint8_rgb(image: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    rgb = to_rgb(image)
    if rgb.dtype == np.uint16:
        rgb = (rgb >> 8).astype(np.uint8)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _lab_scale(lab8: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """OpenCV's 8-bit Lab (..., 3) as L in 0..100 and a, b in -128..127."""
    lab = np.asarray(lab8, np.float64)
    return np.stack([lab[..., 0] * (100.0 / 255.0), lab[..., 1] - 128.0, lab[..., 2] - 128.0], axis=-1)


@lru_cache(maxsize=1)
def _colour_tables() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The Lab value of each 8-bit code (256, 3), and (3, 256, COLOUR_BINS) ones where
    ``np.histogram`` bins a channel's code (none out of range): a region's histograms and
    moments are read off its 256-bin histogram of each channel."""
    values = _lab_scale(np.repeat(np.arange(256)[:, None], 3, axis=1))
    bins = np.zeros((3, 256, COLOUR_BINS), np.int64)
    for channel, (low, high) in enumerate(_RANGES):
        # np.histogram's bins: [edge i, edge i + 1), the last one closed; nothing out of range.
        edges = np.linspace(low, high, COLOUR_BINS + 1)
        channel_values = values[:, channel]
        index = np.minimum(np.searchsorted(edges, channel_values, side="right") - 1, COLOUR_BINS - 1)
        kept = np.flatnonzero((channel_values >= low) & (channel_values <= high))
        bins[channel, kept, index[kept]] = 1
    return values, bins


def _owners(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """The plane of each true pixel of a stack of planes, in ``mask[mask]``'s order."""
    counts = np.count_nonzero(mask.reshape(mask.shape[0], -1), axis=1)
    return np.repeat(np.arange(mask.shape[0]), counts)


def _colour(lab8: npt.NDArray[np.uint8], inside: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """(n, 30): each region's L, a, b histograms (shares), means and standard deviations / 100."""
    n = inside.shape[0]
    count = np.count_nonzero(inside.reshape(n, -1), axis=1).astype(np.float64)
    # A pixel outside its region is counted in an extra bin, dropped after.
    offsets = (np.arange(n, dtype=np.int32) * 257)[:, None, None]
    values, bins = _colour_tables()
    histograms, means, spreads = [], [], []
    for channel in range(3):
        codes = np.where(inside, lab8[..., channel], np.int32(256)) + offsets
        hist256 = np.bincount(codes.ravel(), minlength=n * 257).reshape(n, 257)[:, :256]
        histograms.append(hist256 @ bins[channel] / count[:, None])
        mean = hist256 @ values[:, channel] / count
        means.append(mean)
        squares = (values[:, channel][None, :] - mean[:, None]) ** 2
        spreads.append(np.sqrt((hist256 * squares).sum(axis=1) / count))
    return np.concatenate([*histograms, np.stack(means, axis=1) / 100.0, np.stack(spreads, axis=1) / 100.0],
                          axis=1)


# Uniform LBP: patterns with at most two 0/1 transitions map to their count of ones (0..8),
# every other pattern to 9, as scikit-image's ``local_binary_pattern(..., "uniform")``.
def _uniform_lbp_table() -> npt.NDArray[np.int64]:
    table = np.empty(256, np.int64)
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        transitions = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
        table[code] = sum(bits) if transitions <= 2 else 9
    return table


_LBP_TABLE = _uniform_lbp_table()
_NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))
_SQUARE = tuple((dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1))


def _shifted(stack: npt.NDArray[Any], dr: int, dc: int) -> npt.NDArray[Any]:
    """Each (h, w) plane of a stack padded by one pixel (n, h + 2, w + 2), read ``(dr, dc)``
    away from each pixel: (n, h, w)."""
    h, w = stack.shape[1] - 2, stack.shape[2] - 2
    return stack[:, 1 + dr:1 + dr + h, 1 + dc:1 + dc + w]


def _eroded(inside: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The 3x3 erosion of each plane (beyond its edge counts as inside, as OpenCV's)."""
    padded = np.pad(inside, ((0, 0), (1, 1), (1, 1)), constant_values=True)
    out = inside.copy()
    for dr, dc in _SQUARE:
        out &= _shifted(padded, dr, dc)
    return out


def _dilated(inside: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The 3x3 dilation of each plane (nothing beyond its edge)."""
    padded = np.pad(inside, ((0, 0), (1, 1), (1, 1)))
    out = inside.copy()
    for dr, dc in _SQUARE:
        out |= _shifted(padded, dr, dc)
    return out


def _lbp_histogram(gray8: npt.NDArray[np.uint8], inside: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """(n, 10): the uniform LBP histogram of each region's pixels whose 3x3 square is inside it
    (of all its pixels when none is)."""
    n = gray8.shape[0]
    padded = np.pad(gray8, ((0, 0), (1, 1), (1, 1)), mode="edge")
    code = np.zeros(gray8.shape, np.uint8)
    for bit, (dr, dc) in enumerate(_NEIGHBOURS):
        code |= (_shifted(padded, dr, dc) >= gray8).astype(np.uint8) << np.uint8(bit)
    core = _eroded(inside)
    has_core = np.any(core, axis=(1, 2))
    counted: npt.NDArray[np.bool_] = np.where(has_core[:, None, None], core, inside)
    region = _owners(counted)
    hist = np.bincount(region * 10 + _LBP_TABLE[code[counted]], minlength=n * 10).reshape(n, 10)
    out: npt.NDArray[np.float64] = hist / np.maximum(hist.sum(axis=1, keepdims=True), 1.0)
    return out


def _glcm_stats(gray8: npt.NDArray[np.uint8], inside: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """(n, 8): GLCM contrast, homogeneity, energy and correlation at distances 1 and 2."""
    n = gray8.shape[0]
    region = _owners(inside)
    counts = np.bincount(region, minlength=n)
    histogram = np.bincount(region * 256 + gray8[inside], minlength=n * 256).reshape(n, 256)
    low, high = group_percentiles(ranked_by_histogram(histogram), counts, [1.0, 99.0]).T
    span = high - low
    # Each region's level of each gray value (0 for a region of one gray), read per pixel.
    spread = np.where(span > 0, span, 1.0)[:, None]
    scaled = ((np.arange(256.0)[None, :] - low[:, None]) / spread * GLCM_LEVELS).astype(np.int64)
    level_of = np.where(span[:, None] > 0, np.clip(scaled, 0, GLCM_LEVELS - 1), 0).astype(np.int32)
    # A pixel outside its region gets the extra level GLCM_LEVELS: a pair with one such pixel
    # is counted in the extra row or column of its region's matrix, dropped after.
    levels = np.where(inside, level_of.ravel()[(np.arange(n) * 256)[:, None, None] + gray8],
                      np.int32(GLCM_LEVELS))
    side = GLCM_LEVELS + 1
    matrix_start = np.arange(n, dtype=np.int32) * (side * side)
    first_of_pair = levels * np.int32(side) + matrix_start[:, None, None]
    i_idx, j_idx = np.meshgrid(np.arange(GLCM_LEVELS), np.arange(GLCM_LEVELS), indexing="ij")
    out = []
    for distance in (1, 2):
        matrix = np.zeros((n, GLCM_LEVELS, GLCM_LEVELS), np.float64)
        for dr, dc in ((0, distance), (-distance, distance), (-distance, 0), (-distance, -distance)):
            r0, r1 = max(0, -dr), SIDE - max(0, dr)
            c0, c1 = max(0, -dc), SIDE - max(0, dc)
            pairs = first_of_pair[:, r0:r1, c0:c1] + levels[:, r0 + dr:r1 + dr, c0 + dc:c1 + dc]
            counted = np.bincount(pairs.ravel(), minlength=n * side * side).reshape(n, side, side)
            matrix += counted[:, :GLCM_LEVELS, :GLCM_LEVELS]
        matrix = matrix + matrix.transpose(0, 2, 1)
        total = matrix.sum(axis=(1, 2))
        p = matrix / np.where(total > 0, total, 1.0)[:, None, None]
        contrast = (p * (i_idx - j_idx) ** 2).sum(axis=(1, 2)) / (GLCM_LEVELS - 1) ** 2
        homogeneity = (p / (1.0 + (i_idx - j_idx) ** 2)).sum(axis=(1, 2))
        energy = np.sqrt((p ** 2).sum(axis=(1, 2)))
        mu = (p * i_idx).sum(axis=(1, 2))
        centred = i_idx - mu[:, None, None]
        var = (p * centred ** 2).sum(axis=(1, 2))
        covariance = (p * centred * (j_idx - mu[:, None, None])).sum(axis=(1, 2))
        correlation = np.where(var > 1e-12, covariance / np.where(var > 1e-12, var, 1.0), 1.0)
        empty = total == 0
        out.append(np.stack([np.where(empty, 0.0, contrast), np.where(empty, 1.0, homogeneity),
                             np.where(empty, 1.0, energy), np.where(empty, 1.0, correlation)], axis=1))
    return np.concatenate(out, axis=1)


def _shape(mask_full: npt.NDArray[np.bool_], box: tuple[int, int, int, int]) -> npt.NDArray[np.float64]:
    r0, c0, r1, c1 = box
    region = mask_full[r0:r1, c0:c1]
    area = float(region.sum())
    hu = cv2.HuMoments(cv2.moments(region.astype(np.uint8), binaryImage=True)).ravel()
    hu_log = -np.sign(hu) * np.log10(np.abs(hu) + 1e-30)
    hu_log = np.clip(np.where(np.abs(hu) < 1e-30, 30.0, hu_log), -30.0, 30.0) / 10.0
    return np.concatenate([[area / ((r1 - r0) * (c1 - c0)),
                            np.log((c1 - c0) / (r1 - r0)),
                            area / mask_full.size], hu_log]).astype(np.float64)


@lru_cache(maxsize=1)
def _gradient_tables() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The magnitude and orientation bin of each gradient ``(dx, dy) / 255`` of 8-bit gray,
    indexed by ``(dx + 255) * 511 + dy + 255``."""
    steps = np.arange(-255, 256, dtype=np.float64) / 255.0
    gx, gy = np.meshgrid(steps, steps, indexing="ij")
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((angle / np.pi * HOG_BINS).astype(np.int64), HOG_BINS - 1)
    return np.hypot(gx, gy).ravel(), bins.ravel()


def _edges(gray8: npt.NDArray[np.uint8], inside: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """(n, 144): the HOG-like cells of each plane (central differences of gray / 255, edges
    reflected as OpenCV's 1-pixel Sobel does)."""
    n = gray8.shape[0]
    padded = np.pad(gray8.astype(np.int16), ((0, 0), (1, 1), (1, 1)), mode="reflect")
    dx = _shifted(padded, 0, 1) - _shifted(padded, 0, -1)
    dy = _shifted(padded, 1, 0) - _shifted(padded, -1, 0)
    # Only pixels with a gradient, near the region, add to a cell (the others add 0).
    at = np.flatnonzero(_dilated(inside) & ((dx != 0) | (dy != 0)))
    gradient = (dx.ravel()[at].astype(np.int64) + 255) * 511 + dy.ravel()[at] + 255
    magnitudes, orientation_bins = _gradient_tables()
    cell = SIDE // HOG_CELLS
    rows = np.arange(SIDE) // cell
    length = HOG_CELLS * HOG_CELLS * HOG_BINS
    cells = (rows[:, None] * HOG_CELLS + rows[None, :]) * HOG_BINS
    plane_cell = cells[None, :, :] + (np.arange(n) * length)[:, None, None]
    hist = np.bincount(plane_cell.ravel()[at] + orientation_bins[gradient], magnitudes[gradient],
                       minlength=n * length).reshape(n, HOG_CELLS * HOG_CELLS, HOG_BINS)
    norms = np.sqrt((hist ** 2).sum(axis=2, keepdims=True))
    out: npt.NDArray[np.float64] = (hist / np.maximum(norms, 1e-6)).reshape(n, length)
    return out


def _region(image: npt.NDArray[Any], mask: npt.NDArray[Any] | None) -> tuple[
        npt.NDArray[np.bool_], tuple[int, int, int, int]]:
    image = check_image(image)
    full = np.ones(image.shape[:2], bool) if mask is None else check_mask(mask, image.shape)
    count = int(full.sum())
    if count < MIN_REGION_PIXELS:
        raise InvalidParameter(
            f"the region has {count} pixel(s); select at least {MIN_REGION_PIXELS} to describe it")
    rows = np.flatnonzero(full.any(axis=1))
    cols = np.flatnonzero(full.any(axis=0))
    return full, (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def _working_region(image: npt.NDArray[Any], mask: npt.NDArray[Any] | None) -> tuple[
        npt.NDArray[np.uint8], npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """The region's box resampled to SIDE x SIDE (8-bit RGB), its pixels there, and its shape
    group (read at full resolution)."""
    full, box = _region(image, mask)
    r0, c0, r1, c1 = box
    rgb = _as_uint8_rgb(image[r0:r1, c0:c1])
    region = full[r0:r1, c0:c1]
    if not region.all():
        # Outside pixels take the region's mean colour, so that resampling mixes nothing of
        # them in: the descriptor depends on the region's pixels and outline only.
        mean = np.round(rgb[region].mean(axis=0)).astype(np.uint8)
        rgb = np.where(region[:, :, None], rgb, mean)
    small = np.asarray(cv2.resize(rgb, (SIDE, SIDE), interpolation=cv2.INTER_AREA), np.uint8)
    inside_f = cv2.resize(region.astype(np.float32), (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    inside = inside_f >= 0.5
    if not inside.any():
        inside = inside_f >= float(inside_f.max())
    return small, inside, _shape(full, box)


Regions = Sequence[tuple[npt.NDArray[Any], npt.NDArray[Any] | None]]
"""``(image, mask)`` pairs; a mask of None is the whole image."""


def _raw_batch(regions: Regions) -> npt.NDArray[np.float64]:
    worked = [_working_region(image, mask) for image, mask in regions]
    small = np.stack([w[0] for w in worked])
    inside = np.stack([w[1] for w in worked])
    n = small.shape[0]
    rows = small.reshape(n * SIDE, SIDE, 3)
    lab8 = np.asarray(cv2.cvtColor(rows, cv2.COLOR_RGB2Lab), np.uint8).reshape(small.shape)
    gray8 = np.asarray(cv2.cvtColor(rows, cv2.COLOR_RGB2GRAY), np.uint8).reshape(n, SIDE, SIDE)
    out = np.concatenate([_colour(lab8, inside), _lbp_histogram(gray8, inside), _glcm_stats(gray8, inside),
                          np.stack([w[2] for w in worked]), _edges(gray8, inside)], axis=1)
    finite: npt.NDArray[np.float64] = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return finite


def raw_descriptors(regions: Regions) -> npt.NDArray[np.float64]:
    """:func:`raw_descriptor` of each ``(image, mask)``, :data:`BATCH` regions at a time.

    Returns
    -------
    ndarray of float64, (len(regions), RAW_LENGTH)

    Raises
    ------
    InvalidParameter
        The first region that :func:`raw_descriptor` refuses.
    """
    if not regions:
        return np.empty((0, RAW_LENGTH), np.float64)
    return np.concatenate([_raw_batch(regions[start:start + BATCH])
                           for start in range(0, len(regions), BATCH)])


def raw_descriptor(image: npt.NDArray[Any], mask: npt.NDArray[Any] | None = None) -> npt.NDArray[np.float64]:
    """The raw groups (colour, texture, shape, edges) of ``image`` or of its ``mask``'s region.

    Parameters
    ----------
    image : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        Gray, RGB or RGBA pixels (alpha ignored; 16-bit reduced to its high byte).
    mask : ndarray of bool (h, w), optional
        The region to describe; the whole image without one.

    Returns
    -------
    ndarray of float64, (RAW_LENGTH,)
        Finite values, the groups in the order of :data:`GROUPS`.

    Raises
    ------
    InvalidParameter
        A bad image or mask, or a region of fewer than :data:`MIN_REGION_PIXELS` pixels.

    Examples
    --------
    >>> raw_descriptor(np.zeros((8, 8), np.uint8)).shape == (RAW_LENGTH,)
    True
    """
    raw: npt.NDArray[np.float64] = _raw_batch([(image, mask)])[0]
    return raw


# --- basis --------------------------------------------------------------------------------


def _weights() -> npt.NDArray[np.float64]:
    return np.concatenate([np.full(n, GROUP_WEIGHTS[g] / np.sqrt(n)) for g, n in GROUPS.items()])


def fit_basis(raw: npt.NDArray[np.float64], dimensions: int = DIMENSIONS) -> Basis:
    """Fit the standardisation and the PCA on raw descriptors of a corpus (one per row).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fit_basis(rng.normal(size=(60, RAW_LENGTH)), dimensions=4).axes.shape == (4, RAW_LENGTH)
    True
    """
    raw = np.asarray(raw, np.float64)
    if raw.ndim != 2 or raw.shape[1] != RAW_LENGTH or raw.shape[0] <= dimensions:
        raise InvalidParameter(f"raw must be (n > {dimensions}, {RAW_LENGTH}), got {raw.shape}")
    mean = raw.mean(axis=0)
    scale = raw.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    weighted = (raw - mean) / scale * _weights()
    center = weighted.mean(axis=0)
    _, _, vt = np.linalg.svd(weighted - center, full_matrices=False)
    axes = vt[:dimensions]
    # An SVD's axes have arbitrary signs: fix them so that a refit gives the same basis.
    signs = np.sign(axes[np.arange(dimensions), np.argmax(np.abs(axes), axis=1)])
    return Basis(mean, scale, center, axes * signs[:, None], DESCRIPTOR_SET_VERSION)


def save_basis(basis: Basis, path: Path) -> None:
    np.savez_compressed(path, mean=basis.mean, scale=basis.scale, center=basis.center,
                        axes=basis.axes, version=np.array(basis.version))


def load_basis(path: Path = BASIS_FILE) -> Basis:
    with np.load(path) as data:
        return Basis(data["mean"], data["scale"], data["center"], data["axes"], str(data["version"]))


@lru_cache(maxsize=1)
def default_basis() -> Basis:
    """The shipped basis (:data:`BASIS_FILE`), loaded once."""
    basis = load_basis()
    if basis.version != DESCRIPTOR_SET_VERSION or basis.axes.shape != (DIMENSIONS, RAW_LENGTH):
        raise RuntimeError(f"{BASIS_FILE} holds descriptor set {basis.version} {basis.axes.shape}; "
                           f"refit it with scripts/fit_similarity_basis.py")
    return basis


def project(raw: npt.NDArray[np.float64], basis: Basis | None = None) -> npt.NDArray[np.float32]:
    """Raw descriptors (RAW_LENGTH,) or (n, RAW_LENGTH) → unit vectors of the basis's length."""
    basis = basis if basis is not None else default_basis()
    weighted = (np.asarray(raw, np.float64) - basis.mean) / basis.scale * _weights()
    reduced = (weighted - basis.center) @ basis.axes.T
    norms = np.linalg.norm(reduced, axis=-1, keepdims=True)
    unit = reduced / np.maximum(norms, 1e-12)
    return np.asarray(unit, np.float32)


def describe(image: npt.NDArray[Any], mask: npt.NDArray[Any] | None = None,
             basis: Basis | None = None) -> npt.NDArray[np.float32]:
    """The similarity descriptor of ``image`` (or of ``mask``'s region of it).

    Parameters
    ----------
    image : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
    mask : ndarray of bool (h, w), optional
        Only the region under the mask is described (a selection of superpixels, say).
    basis : Basis, optional
        The shipped one (:func:`default_basis`) by default.

    Returns
    -------
    ndarray of float32, (DIMENSIONS,)
        Unit length: the inner product of two descriptors is their cosine similarity.

    Examples
    --------
    >>> v = describe(np.full((16, 16, 3), 90, np.uint8))
    >>> v.shape, bool(abs(float(v @ v) - 1) < 1e-5)
    ((48,), True)
    """
    return project(raw_descriptor(image, mask), basis)


def describe_many(regions: Regions, basis: Basis | None = None) -> npt.NDArray[np.float32]:
    """:func:`describe` of each ``(image, mask)`` (mask None: the whole image), computed a
    :data:`BATCH` of regions at a time: the same vectors within float rounding, ~3.7x cheaper
    per region than one call each for a frame's small objects (0.36 against 1.36 ms).

    Returns
    -------
    ndarray of float32, (len(regions), DIMENSIONS)

    Raises
    ------
    InvalidParameter
        The first region that :func:`describe` refuses.

    Examples
    --------
    >>> gray = np.full((12, 12), 200, np.uint8); gray[3:9, 2:10] = 40
    >>> many = describe_many([(gray, gray < 128), (gray, None)])
    >>> bool(np.allclose(many[0], describe(gray, gray < 128), atol=1e-6)), many.shape
    (True, (2, 48))
    """
    if not regions:
        return np.empty((0, DIMENSIONS), np.float32)
    return project(raw_descriptors(regions), basis)


def working_copy(pixels: npt.NDArray[Any], mask: npt.NDArray[np.bool_] | None = None,
                 side: int = WORK_SIDE) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_] | None]:
    """8-bit RGB(A) pixels (and the mask) resampled so that the longer side is at most ``side``.

    What a whole picture or a selection is described on, wherever it is stored (segment's
    library, classify's scans): the same pixels give the same working copy, hence the same
    vector, in every service. Gray is repeated to RGB; 16-bit keeps its high byte. A thin mask
    that would vanish keeps every working pixel it touched.
    """
    image: npt.NDArray[Any] = pixels
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    h, w = image.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return np.ascontiguousarray(image, dtype=np.uint8), mask
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA),
                       np.uint8)
    if mask is None:
        return small, None
    share = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small_mask = share >= 0.5
    if small_mask.sum() < MIN_REGION_PIXELS:
        small_mask = share > 0
    return small, small_mask


def describe_working_copy(pixels: npt.NDArray[Any],
                          mask: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.float32]:
    """:func:`describe` of the :func:`working_copy` of ``pixels`` (and of the region ``mask``).

    The one vector of a whole picture (``mask`` None) or of a selection, as every service
    computes it: a library image, a scan slice, a search's query.

    Examples
    --------
    >>> gray = np.zeros((300, 200), np.uint8); gray[100:200, 50:150] = 200
    >>> a = describe_working_copy(gray)
    >>> b = describe_working_copy(np.repeat(gray[:, :, None], 3, axis=2))
    >>> bool(np.array_equal(a, b))
    True
    """
    rgba, region = working_copy(pixels, mask)
    return describe(np.ascontiguousarray(rgba[:, :, :3]), region)
