"""Crops (vignettes): their organism and feature row (:func:`crop_object`, shared by the trainer
and the ``input=crop`` route) and their near-duplicate groups (:func:`crop_groups`), so that no
group straddles the splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_classify.domain import dedup
from specimen_classify.domain.plankton.segmentation import CROP_SEGMENTATION, PlanktonSegmentation
from specimen_imaging.arrays import check_image, to_gray
from specimen_imaging.errors import FlatImage
from specimen_imaging.measurements import FEATURE_SET_VERSION, measure_objects
from specimen_imaging.thresholding import threshold_mask

# Near-duplicate crops --------------------------------------------------------------------------


CROP_MAX_DISTANCE = 10
"""Largest pHash distance (of 64 bits) between near-duplicate crops of the same size.

A pHash sees a 32x32 thumbnail: a small crop's few pixels spread over it, so re-encoding moves
the hash more than a brain slice's (measured on 960 generated crops: a copy re-saved as JPEG
quality 85 with noise of sigma 3 lies up to 9 bits away, median 1), while distinct small
ellipses of any size can share a hash. So crops are compared only with crops of the same
height and width (a plankton crop is at the instrument's native scale: its size is a feature,
and a copy keeps it), and within that, up to the copies' maximum plus one. Grouping two
distinct crops only coarsens the split (largest group: 29 of 960 crops); a resized copy is not
caught.
"""


def crop_groups(
    hashes: npt.NDArray[np.uint8], sizes: Sequence[tuple[int, int]], max_distance: int = CROP_MAX_DISTANCE
) -> npt.NDArray[np.int64]:
    """Near-duplicate groups of crops: same ``(height, width)`` and pHash within ``max_distance``.

    Parameters
    ----------
    hashes : ndarray of uint8, (n, 8)
        :func:`specimen_classify.domain.dedup.perceptual_hash` of each crop.
    sizes : sequence of (int, int)
        Each crop's height and width.
    max_distance : int

    Returns
    -------
    ndarray of int64, (n,)
        Group of each crop, numbered 0, 1, … in the order of each group's first crop.

    Examples
    --------
    >>> h = np.array([[0] * 8, [1] + [0] * 7, [0] * 8], np.uint8)
    >>> crop_groups(h, [(5, 5), (5, 5), (6, 5)], max_distance=1).tolist()
    [0, 0, 1]
    """
    array = np.asarray(hashes)
    if array.ndim != 2 or len(sizes) != array.shape[0]:
        raise ValueError(f"hashes {array.shape} and sizes ({len(sizes)}) must describe the same crops")
    keys = [(int(h), int(w)) for h, w in sizes]
    raw = np.empty(len(keys), np.int64)
    offset = 0
    for key in dict.fromkeys(keys):
        members = np.array([i for i, k in enumerate(keys) if k == key], np.int64)
        local = dedup.near_duplicate_groups(array[members], max_distance)
        raw[members] = local + offset
        offset += int(local.max()) + 1
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    renumbered: npt.NDArray[np.int64] = np.argsort(np.argsort(first))[inverse].astype(np.int64)
    return renumbered


def _framed(pixels: npt.NDArray[Any], margin: int) -> npt.NDArray[Any]:
    """``pixels`` in the middle of a canvas ``margin`` pixels wider on each side, filled with the
    median of the outermost row and column pixels (per channel)."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    h, w = pixels.shape[:2]
    canvas = np.empty((h + 2 * margin, w + 2 * margin, *pixels.shape[2:]), pixels.dtype)
    canvas[...] = np.median(border, axis=0).astype(pixels.dtype)
    canvas[margin : margin + h, margin : margin + w] = pixels
    return canvas


FloatArray = npt.NDArray[np.float64]


def _border(gray: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Rows, columns and values of a crop's outermost pixels."""
    h, w = gray.shape
    rows = np.r_[np.zeros(w), np.full(w, h - 1), np.arange(h), np.arange(h)]
    cols = np.r_[np.arange(w), np.arange(w), np.zeros(h), np.full(h, w - 1)]
    return rows, cols, gray[rows.astype(int), cols.astype(int)].astype(np.float64)


def is_bright_on_dark(pixels: npt.NDArray[Any]) -> bool:
    """Whether a crop shows a bright object on a dark background (dark-field instruments).

    The crop's border is background: it is dark when its median lies below Otsu's threshold
    of the whole crop (the object is the other class).
    """
    gray = to_gray(pixels).astype(np.float64)
    _, _, border = _border(gray)
    low, high = float(gray.min()), float(gray.max())
    scaled = ((gray - low) / max(high - low, 1e-9) * 255).astype(np.uint8)
    threshold, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    border_scaled = (np.median(border) - low) / max(high - low, 1e-9) * 255
    return bool(border_scaled <= threshold)  # Otsu: class 0 is <= its threshold


def dark_on_light(pixels: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The crop as dark-on-light: bright-on-dark crops inverted (every channel), others as they are.

    The forest learns what "darker than the background" means; a dark-field vignette says the
    same with the opposite sign, so it is flipped first and the same rows describe both.
    """
    if not is_bright_on_dark(pixels):
        return pixels
    top = np.iinfo(pixels.dtype).max if pixels.dtype.kind in "ui" else 1.0
    flipped = pixels.copy()
    if pixels.ndim == 2:
        flipped[...] = top - pixels
    else:
        flipped[..., :3] = top - pixels[..., :3]  # alpha kept
    return flipped


def level_background(gray: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Gray with the crop's uneven background levelled: a plane fitted to the border, taken away.

    The tilt of the illumination across a crop (and an instrument's background gradient) moves
    a global threshold; the border is background, so the plane through it is the tilt.
    """
    g = gray.astype(np.float32)
    rows, cols, values = _border(g)
    design = np.column_stack([np.ones_like(rows), rows, cols])
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    h, w = g.shape
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float32)
    plane = coef[1] * rr + coef[2] * cc
    out: npt.NDArray[np.float32] = g - plane + np.float32(np.mean(plane))
    return out


BACKGROUND_NOISE_FACTOR = 4.0
"""The organism's pixels are darker than the background by more than this many noise sigmas…"""
BACKGROUND_SPREAD_FACTOR = 1.5
"""…and than this many times the depth of the border's 2nd percentile (an uneven background's
blotches and gradient)…"""
BACKGROUND_DEPTH_SHARE = 0.2
"""…and by more than this share of the darkest pixel's depth below the background."""
BORDER_RING = 3
"""Pixels of the crop's own border that give its background level and noise."""


def background_threshold(gray8: npt.NDArray[np.uint8], margin: int) -> float | None:
    """A dark-on-light threshold set from the crop's background rather than by Otsu.

    Instruments cut an organism out at a fixed depth below the background, so a translucent
    body (a pale inside, a darker rim or a dark inclusion) is kept whole. Otsu's threshold
    splits the crop's gray values into two classes instead, and on such a body takes only its
    darkest part (an inclusion, a touching piece of debris) as the object. The background level
    ``b`` and noise ``s`` (median and 1.4826 MAD) come from the crop's outer :data:`BORDER_RING`
    pixels (inside the ``margin`` added around it); with ``d`` the 1st percentile of the crop,
    ``t = b - max(4 s, 0.3 (b - d))``. None (Otsu then) when ``t`` would not lie above ``d``: no
    object stands out of the noise.

    Examples
    --------
    >>> crop = np.full((40, 40), 200, np.uint8); crop[10:30, 10:30] = 150; crop[16:24, 16:24] = 20
    >>> background_threshold(crop, 0)
    164.0
    """
    h, w = gray8.shape
    inner = gray8[margin : h - margin, margin : w - margin]
    ring = BORDER_RING
    if min(inner.shape) <= 2 * ring:
        return None
    sides = (inner[:ring], inner[-ring:], inner[ring:-ring, :ring], inner[ring:-ring, -ring:])
    edge = np.concatenate([side.ravel() for side in sides]).astype(np.float64)
    level = float(np.median(edge))
    noise = 1.4826 * float(np.median(np.abs(edge - level)))
    spread = level - float(np.percentile(edge, 2))
    darkest = float(np.percentile(inner, 1))
    cut = level - max(BACKGROUND_NOISE_FACTOR * noise, BACKGROUND_SPREAD_FACTOR * spread,
                      BACKGROUND_DEPTH_SHARE * (level - darkest))
    return float(cut) if cut > darkest else None


def _is_scale_bar(box: tuple[int, int, int, int], area: float, shape: tuple[int, int]) -> bool:
    """A thin, straight, filled horizontal bar in the bottom or top fifth of the crop."""
    r0, c0, r1, c1 = box
    h, _w = shape
    bar_h, bar_w = r1 - r0, c1 - c0
    near_edge = r0 >= 0.8 * h or r1 <= 0.2 * h
    return near_edge and bar_h <= max(4, 0.04 * h) and bar_w >= 4 * bar_h and area >= 0.8 * bar_h * bar_w


@dataclass(frozen=True)
class CropObject:
    """The organism of a crop: its feature row and where it is in the crop.

    Attributes
    ----------
    features : ndarray of float64, (len(feature set),)
    bbox : tuple of int
        ``(min_row, min_col, max_row, max_col)``, max exclusive, in the crop.
    centroid : tuple of float
        ``(row, col)`` in the crop.
    bright_on_dark : bool
        Whether the crop was inverted first (:func:`dark_on_light`).
    mask : ndarray of bool, (h, w), optional
        The organism's pixels in the crop (what the object search describes).
    """

    features: npt.NDArray[np.float64]
    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]
    bright_on_dark: bool
    mask: npt.NDArray[np.bool_] | None = None


def crop_object(
    pixels: npt.NDArray[Any],
    options: PlanktonSegmentation = CROP_SEGMENTATION,
    feature_set: str = FEATURE_SET_VERSION,
) -> CropObject | None:
    """The organism of one crop (vignette) and its feature row; None when the crop holds none.

    The trainer featurises every training crop with this, and ``POST /classify/plankton`` with
    ``input=crop`` classifies a vignette with it, so both measure a crop the same way:

    1. a bright-on-dark crop is inverted (:func:`dark_on_light`);
    2. the background's tilt is levelled from the border (:func:`level_background`) and the
       mask thresholded from that, in a canvas framed by a margin of the crop's own background
       as wide as the closing reaches (the mask operations treat the outside as background and
       would otherwise eat an object touching the edge);
    3. of the objects found, scale bars are left out and the organism is the largest object
       whose box reaches the central half of the crop (the largest of all when none does):
       vignettes are centred on their object, debris and labels sit around it;
    4. it is measured in the (inverted) pixels with the feature set ``feature_set``.

    Parameters
    ----------
    pixels : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
    options : PlanktonSegmentation
        Default :data:`CROP_SEGMENTATION`.
    feature_set : str
        The feature set measured (a model's ``feature_set_version``).

    Raises
    ------
    FlatImage, InvalidParameter
        From the shared pipeline (a blank crop is flat).

    Examples
    --------
    >>> crop = np.full((9, 9), 220, np.uint8); crop[2:7, 3:6] = 40
    >>> crop_object(crop).features[FEATURE_NAMES.index("area")]
    np.float64(15.0)
    """
    pixels = check_image(pixels)
    gray = to_gray(pixels)
    if gray.min() == gray.max():
        raise FlatImage(float(gray.min()))
    inverted = is_bright_on_dark(pixels)
    shown = dark_on_light(pixels) if inverted else pixels
    margin = max(options.opening_radius, options.closing_radius) + 1
    framed = _framed(shown, margin)
    levelled = level_background(to_gray(framed))
    low, high = float(levelled.min()), float(levelled.max())
    gray8 = np.zeros(levelled.shape, np.uint8) if high <= low else (
        (levelled - low) / (high - low) * 255).astype(np.uint8)
    params = options.threshold_params(with_area_filter=False)
    cut = background_threshold(gray8, margin)
    if cut is not None:
        params = replace(params, method="fixed", value=cut)
    mask = threshold_mask(gray8, params).mask
    objects, measured = options.extract(framed, mask=mask, feature_set="1")
    if measured.labels.size == 0:
        return None
    h, w = shown.shape[:2]
    boxes = measured.bboxes - np.array([margin, margin, margin, margin])
    area = measured.column("area")
    keep = np.array(
        [not _is_scale_bar(tuple(b), a, (h, w)) for b, a in zip(boxes.tolist(), area, strict=True)]
    )
    central = (boxes[:, 0] < 0.75 * h) & (boxes[:, 2] > 0.25 * h)
    central &= (boxes[:, 1] < 0.75 * w) & (boxes[:, 3] > 0.25 * w)
    candidates = keep & central if (keep & central).any() else keep if keep.any() else np.ones_like(keep)
    pick = int(np.flatnonzero(candidates)[np.argmax(area[candidates])])
    label = measured.labels[pick]
    alone = np.where(objects.labels == label, 1, 0).astype(np.int32)
    row = measure_objects(alone, framed, feature_set).features[0]
    r0, c0, r1, c1 = (int(v) for v in boxes[pick])
    cr, cc = (float(v) - margin for v in measured.centroids[pick])
    mask = alone[margin : margin + h, margin : margin + w] > 0
    return CropObject(row, (r0, c0, r1, c1), (cr, cc), inverted, mask)


def crop_features(
    pixels: npt.NDArray[Any], options: PlanktonSegmentation = CROP_SEGMENTATION,
    feature_set: str = FEATURE_SET_VERSION,
) -> npt.NDArray[np.float64] | None:
    """The feature row of a crop (:func:`crop_object`), None when it holds no object.

    Examples
    --------
    >>> crop = np.full((9, 9), 220, np.uint8); crop[2:7, 3:6] = 40
    >>> crop_features(crop)[FEATURE_NAMES.index("area")]
    np.float64(15.0)
    """
    found = crop_object(pixels, options, feature_set)
    return None if found is None else found.features
