"""Descriptors of plankton objects, and the exact ranking of a project's objects (issue 14).

An object is described by its **region alone** (its mask over its frame's gray pixels): what
lies around it in the frame or its crop — neighbours, the faded background, a drawn contour —
never moves its vector. Two parts, both weight-free, concatenated:

* ``image`` (48): :func:`specimen_imaging.similarity.describe` of the gray pixels under the
  mask (colour-free: a run's crops are gray; Lab, LBP/GLCM, shape, HOG, the shipped PCA).
* ``features`` (:data:`FEATURE_SET` columns): the object's measurements
  (:func:`specimen_imaging.measurements.measure_objects`, the forest's feature definitions) —
  signed ``log1p`` of each value, standardised by the median and spread of generated training
  crops (:data:`BASIS_FILE`, fitted by ``bench/plankton_object_search.py fit``), clipped to
  ±:data:`CLIP`, then L2-normalised.

Each part is a unit vector; the descriptor is ``[w_i * image, w_f * features]`` with
``w_i² + w_f² = 1`` (:data:`IMAGE_WEIGHT`), so the inner product of two descriptors is the
weighted mean of the two cosines. Which weights: measured by precision@5 by category on
vignettes of classify's *training* generator (BENCHMARKS.md "Similar-image search (issue 14)").
The set is versioned (:data:`OBJECT_DESCRIPTOR_VERSION`): vectors of two versions are never
compared.

Dark-on-light is the convention: a bright-on-dark object (a run with ``polarity=light-on-dark``,
a dark-field crop) is inverted first, as the forest's crop featurisation does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from specimen_imaging import similarity
from specimen_imaging.arrays import to_gray
from specimen_imaging.measurements import FEATURE_SETS, measure_objects
from specimen_imaging.mosaic import shelf_layout
from specimen_kit.errors import InvalidParameter, Problem

OBJECT_DESCRIPTOR_VERSION = "1"
"""Version of the object descriptor (image part: descriptor set 1; features: set 2, basis 1)."""
IMAGE_PART_SET_VERSION = similarity.DESCRIPTOR_SET_VERSION
"""The descriptor set of the image part (the first :data:`similarity.DIMENSIONS` numbers, over
``IMAGE_WEIGHT``): the set segment's library and classify's scans are described with, so that a
search across kinds ranks objects by their image part (:func:`image_parts`). A new set is a new
:data:`OBJECT_DESCRIPTOR_VERSION` too."""
FEATURE_SET = "2"
FEATURE_NAMES: tuple[str, ...] = FEATURE_SETS[FEATURE_SET]
IMAGE_WEIGHT = 0.4
"""Weight of the image part (the features part weighs sqrt(1 - IMAGE_WEIGHT²)). Measured
(``bench/plankton_object_search.py quality``, 300 training-generator vignettes): precision@5 by
category 0.555 for the image part alone, 0.697 for the features alone, 0.700 at 0.4 (the best
weight; random 0.200); on 160 objects of generated frames 0.850, 0.963 and 0.954."""
CLIP = 4.0
DIMENSIONS = similarity.DIMENSIONS + len(FEATURE_NAMES)
"""Length of an object descriptor."""
BASIS_FILE = Path(__file__).with_name("object_descriptor_basis.json")


@dataclass(frozen=True)
class FeatureBasis:
    """Median and spread of each transformed feature over generated training crops."""

    center: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    feature_set: str = FEATURE_SET


def _signed_log(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.sign(values) * np.log1p(np.abs(values))
    return out


def fit_feature_basis(rows: npt.NDArray[np.float64]) -> FeatureBasis:
    """Median and interquartile spread (/1.349) of each transformed feature; 1 where it is 0."""
    logged = _signed_log(np.nan_to_num(np.asarray(rows, np.float64)))
    center = np.median(logged, axis=0)
    q75, q25 = np.percentile(logged, [75, 25], axis=0)
    spread = (q75 - q25) / 1.349
    fallback = logged.std(axis=0)
    scale = np.where(spread > 1e-9, spread, np.where(fallback > 1e-9, fallback, 1.0))
    return FeatureBasis(center, scale)


def save_feature_basis(basis: FeatureBasis, path: Path = BASIS_FILE) -> None:
    path.write_text(json.dumps({
        "version": OBJECT_DESCRIPTOR_VERSION, "feature_set": basis.feature_set,
        "names": list(FEATURE_NAMES), "center": basis.center.tolist(),
        "scale": basis.scale.tolist()}, indent=1) + "\n")


@lru_cache(maxsize=1)
def default_feature_basis() -> FeatureBasis:
    """The shipped basis (:data:`BASIS_FILE`), loaded once."""
    data = json.loads(BASIS_FILE.read_text())
    if data["version"] != OBJECT_DESCRIPTOR_VERSION or tuple(data["names"]) != FEATURE_NAMES:
        raise RuntimeError(f"{BASIS_FILE} is for object descriptor {data['version']}; refit it "
                           "with bench/plankton_object_search.py fit")
    return FeatureBasis(np.asarray(data["center"], np.float64), np.asarray(data["scale"], np.float64),
                        str(data["feature_set"]))


def _unit(vector: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norm = float(np.linalg.norm(vector))
    out: npt.NDArray[np.float64] = vector / norm if norm > 1e-12 else vector
    return out


def feature_part(row: npt.NDArray[np.float64], basis: FeatureBasis | None = None) -> npt.NDArray[np.float64]:
    """The unit features part of a feature row (set :data:`FEATURE_SET`)."""
    basis = basis if basis is not None else default_feature_basis()
    z = (_signed_log(np.nan_to_num(np.asarray(row, np.float64))) - basis.center) / basis.scale
    return _unit(np.clip(z, -CLIP, CLIP))


def _region_window(gray: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_]
                   ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8]]:
    """The region's box with a pixel of background around it (where the pixels have one), and
    its gray pixels there with everything outside the region white."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise InvalidParameter("the object's mask is empty; nothing to describe")
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    # A pixel of background around the box: the measurements' perimeter and the HOG's outline
    # read the edge of the region.
    r0, c0 = max(r0 - 1, 0), max(c0 - 1, 0)
    r1, c1 = min(r1 + 1, mask.shape[0]), min(c1 + 1, mask.shape[1])
    region = np.ascontiguousarray(mask[r0:r1, c0:c1])
    # Outside the region is white (dark-on-light's background): some measurements of set 2
    # read the ring around an object (local background, contrast, LBP at the edge), and what
    # surrounds an object (a neighbour, a faded crop, another instrument's background) must
    # not move its descriptor.
    window = np.ascontiguousarray(np.where(region, gray[r0:r1, c0:c1], 255).astype(np.uint8))
    return region, window


def _image_part(region: npt.NDArray[np.bool_], window: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    part: npt.NDArray[np.float64] = similarity.describe(window, region).astype(np.float64)
    return part


def region_parts(gray: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_],
                 basis: FeatureBasis | None = None
                 ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The two unit parts (image, features) of the region ``mask`` of dark-on-light ``gray``."""
    region, window = _region_window(gray, mask)
    measured = measure_objects(region.astype(np.int32), window, FEATURE_SET)
    return _image_part(region, window), feature_part(measured.features[0], basis)


SHEET_PIXELS = 1 << 22
"""Most window pixels measured on one sheet (with its int32 labels, ~30 MB)."""
_SHEET_GAP = 8
"""White pixels between two windows of :func:`_measure_on_one_sheet`: more than twice the
measurements' reach around a box (feature set 2 reads 2 pixels around it), so that no
object's measurements see another's window."""


def _measure_on_one_sheet(windows: list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8]]]
                          ) -> npt.NDArray[np.float64]:
    """Feature set 2 of each (region, white-outside window), all in one
    :func:`~specimen_imaging.measurements.measure_objects` call: the windows laid out on one
    white sheet (:func:`~specimen_imaging.mosaic.shelf_layout`), each region labelled by its
    position in the list (1, 2, ...)."""
    corners, height, width = shelf_layout([window.shape[0] for _, window in windows],
                                          [window.shape[1] for _, window in windows], _SHEET_GAP)
    sheet = np.full((height, width), 255, np.uint8)
    labels = np.zeros(sheet.shape, np.int32)
    boxes = np.empty((len(windows), 4), np.int64)
    for k, ((region, window), (top, left)) in enumerate(zip(windows, corners, strict=True)):
        h, w = window.shape
        sheet[top:top + h, left:left + w] = window
        labels[top:top + h, left:left + w][region] = k + 1
        rows = np.flatnonzero(region.any(axis=1))
        cols = np.flatnonzero(region.any(axis=0))
        boxes[k] = (top + rows[0], left + cols[0], top + rows[-1] + 1, left + cols[-1] + 1)
    measured = measure_objects(labels, sheet, FEATURE_SET, bboxes=boxes)
    return measured.features


def _touches_its_edge(region: npt.NDArray[np.bool_]) -> bool:
    return bool(region[0].any() or region[-1].any() or region[:, 0].any() or region[:, -1].any())


def combine(image: npt.NDArray[np.float64], features: npt.NDArray[np.float64],
            image_weight: float = IMAGE_WEIGHT) -> npt.NDArray[np.float32]:
    """``[w_i * image, w_f * features]``: unit length when both parts are."""
    feature_weight = float(np.sqrt(max(0.0, 1.0 - image_weight ** 2)))
    return np.concatenate([image * image_weight, features * feature_weight]).astype(np.float32)


def dark_on_light_gray(pixels: npt.NDArray[Any], bright_on_dark: bool = False) -> npt.NDArray[np.uint8]:
    """8-bit gray of ``pixels`` (16-bit reduced), inverted when the object is bright on dark."""
    gray = to_gray(pixels)
    if gray.dtype != np.uint8:
        gray = (gray.astype(np.float64) / 257.0).round().clip(0, 255).astype(np.uint8)
    if bright_on_dark:
        gray = (255 - gray).astype(np.uint8)
    return np.ascontiguousarray(gray)


def describe_object(pixels: npt.NDArray[Any], mask: npt.NDArray[np.bool_], *,
                    bright_on_dark: bool = False) -> npt.NDArray[np.float32]:
    """The descriptor of the object under ``mask`` in ``pixels`` (a frame window or a crop).

    Parameters
    ----------
    pixels : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
    mask : ndarray of bool, (h, w)
        The object's pixels; nothing else of ``pixels`` is read.
    bright_on_dark : bool
        Invert first (a dark-field object), so that both polarities compare.

    Returns
    -------
    ndarray of float32, (DIMENSIONS,)
        Unit length: inner products are similarities in [-1, 1].

    Examples
    --------
    >>> crop = np.full((20, 20), 220, np.uint8); crop[5:15, 6:13] = 40
    >>> v = describe_object(crop, crop < 128)
    >>> v.shape == (DIMENSIONS,), bool(abs(float(v @ v) - 1) < 1e-5)
    (True, True)
    """
    if mask.shape != pixels.shape[:2]:
        raise InvalidParameter(f"the mask is {mask.shape[1]}x{mask.shape[0]}; it must match the "
                               f"pixels' {pixels.shape[1]}x{pixels.shape[0]}")
    if int(mask.sum()) < similarity.MIN_REGION_PIXELS:
        raise InvalidParameter(f"the object has {int(mask.sum())} pixel(s); at least "
                               f"{similarity.MIN_REGION_PIXELS} are needed to describe it")
    image, features = region_parts(dark_on_light_gray(pixels, bright_on_dark), mask)
    return combine(image, features)


def describe_objects(objects: Sequence[tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]], *,
                     bright_on_dark: bool = False) -> list[npt.NDArray[np.float32] | None]:
    """:func:`describe_object` of each ``(pixels, mask)``, a frame's objects at once; None for
    one that cannot be described (too small, or a mask that does not match its pixels).

    The measurements of all the regions are taken in one call, their white-outside windows laid
    out on one sheet (an object measured alone cost ~4.5 ms of the ~7 of its descriptor, most of
    it the measurement's fixed cost), and their image parts by one
    :func:`~specimen_imaging.similarity.describe_many`. A region that reaches the edge of its
    pixels has no white margin there, and is measured alone as :func:`describe_object` does, so
    that every vector is the one :func:`describe_object` gives (within float rounding).
    """
    described: list[npt.NDArray[np.float32] | None] = [None] * len(objects)
    windows: dict[int, tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8]]] = {}
    for i, (pixels, mask) in enumerate(objects):
        if mask.shape != pixels.shape[:2] or int(mask.sum()) < similarity.MIN_REGION_PIXELS:
            continue
        try:
            gray = dark_on_light_gray(pixels, bright_on_dark)
            region, window = _region_window(gray, mask)
            if _touches_its_edge(region):
                described[i] = combine(*region_parts(gray, mask))
            else:
                windows[i] = (region, window)
        except Problem:  # as describe_object would refuse it
            continue
    # Gray windows: each is made RGB only while it is resampled (a frame's windows together may
    # exceed the frame many times; three channels of each at once would triple that).
    images = similarity.describe_many([(window, region) for region, window in windows.values()]
                                      ).astype(np.float64)
    parts = {i: (*windows[i], image) for i, image in zip(windows, images, strict=True)}
    # A sheet at a time of at most SHEET_PIXELS of windows: the boxes of objects that do not
    # overlap may still overlap each other, so together they can exceed the frame many times.
    sheets: list[list[int]] = [[]]
    pixels_on_sheet = 0
    for i, (_, window, _) in parts.items():
        if sheets[-1] and pixels_on_sheet + window.size > SHEET_PIXELS:
            sheets.append([])
            pixels_on_sheet = 0
        sheets[-1].append(i)
        pixels_on_sheet += window.size
    for sheet in sheets:
        if sheet:
            rows = _measure_on_one_sheet([(parts[j][0], parts[j][1]) for j in sheet])
            for j, row in zip(sheet, rows, strict=True):
                described[j] = combine(parts[j][2], feature_part(row))
    return described


def image_parts(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The unit image parts (set :data:`IMAGE_PART_SET_VERSION`) of object descriptors ``(n, d)``.

    Examples
    --------
    >>> part = np.zeros(similarity.DIMENSIONS); part[0] = 1.0
    >>> v = combine(part, np.ones(len(FEATURE_NAMES)) / np.sqrt(len(FEATURE_NAMES)))
    >>> float(image_parts(v[None, :])[0, 0])
    1.0
    """
    head = np.asarray(vectors, np.float64)[:, :similarity.DIMENSIONS]
    norms = np.linalg.norm(head, axis=1, keepdims=True)
    out: npt.NDArray[np.float32] = (head / np.where(norms > 1e-12, norms, 1.0)).astype(np.float32)
    return out


def describe_object_image(pixels: npt.NDArray[Any], mask: npt.NDArray[np.bool_], *,
                          bright_on_dark: bool = False) -> npt.NDArray[np.float32]:
    """The image part alone of :func:`describe_object` (set :data:`IMAGE_PART_SET_VERSION`)."""
    part: npt.NDArray[np.float32] = image_parts(
        describe_object(pixels, mask, bright_on_dark=bright_on_dark)[None, :])[0]
    return part


def rank_objects(query: npt.NDArray[np.float32], vectors: npt.NDArray[np.float32],
                 allowed: npt.NDArray[np.bool_] | None, limit: int) -> list[tuple[int, float]]:
    """The ``limit`` best rows of ``vectors`` for ``query``: ``(row, similarity)``, best first.

    Exact (every allowed row's inner product). ``allowed`` (a mask over the rows) leaves rows
    out *before* ranking: a filter never empties a top-k that other rows would have filled.
    Ties break by row order.

    Examples
    --------
    >>> rank_objects(np.array([1, 0], np.float32), np.eye(2, dtype=np.float32), None, 5)
    [(0, 1.0), (1, 0.0)]
    >>> rank_objects(np.array([1, 0], np.float32), np.eye(2, dtype=np.float32), np.array([False, True]), 5)
    [(1, 0.0)]
    """
    if limit < 1 or vectors.shape[0] == 0:
        return []
    scores = vectors @ np.asarray(query, np.float32)
    candidates = np.arange(vectors.shape[0]) if allowed is None else np.flatnonzero(allowed)
    if candidates.size == 0:
        return []
    chosen = scores[candidates]
    if candidates.size > limit:
        part = np.argpartition(-chosen, limit - 1)[:limit]
    else:
        part = np.arange(candidates.size)
    order = part[np.lexsort((candidates[part], -chosen[part]))]
    return [(int(candidates[i]), round(float(chosen[i]), 6)) for i in order]
