"""Training crops: their feature row (:func:`crop_features`, the largest object) and their
near-duplicate groups (:func:`crop_groups`), so that no group straddles the splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from specimen_classify.domain import dedup
from specimen_classify.domain.plankton.segmentation import CROP_SEGMENTATION, PlanktonSegmentation
from specimen_imaging.arrays import check_image

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


def crop_features(
    pixels: npt.NDArray[Any], options: PlanktonSegmentation = CROP_SEGMENTATION
) -> npt.NDArray[np.float64] | None:
    """The feature row of a training crop: its largest object, None when it holds none.

    The crop is first framed by a margin of its own background (the median of its outermost
    pixels) as wide as the opening or closing reaches, so that a tight crop's object is cleaned
    as it is inside a frame: the mask operations treat the image's outside as background and
    would otherwise eat an object that touches the crop's edge.

    Parameters
    ----------
    pixels : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        One object's crop, as the public plankton sets store them.
    options : PlanktonSegmentation
        Default :data:`CROP_SEGMENTATION`.

    Raises
    ------
    FlatImage, InvalidParameter
        From the shared pipeline (a blank crop is flat).

    Examples
    --------
    >>> crop = np.full((9, 9), 220, np.uint8); crop[2:7, 3:6] = 40
    >>> crop_features(crop)[FEATURE_NAMES.index("area")]
    np.float64(15.0)
    """
    _, measured = options.extract(
        _framed(check_image(pixels), max(options.opening_radius, options.closing_radius) + 1)
    )
    if measured.features.shape[0] == 0:
        return None
    row: npt.NDArray[np.float64] = measured.features[int(np.argmax(measured.column("area")))]
    return row
