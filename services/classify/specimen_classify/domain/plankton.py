"""Plankton objects sorted into categories by the forest, on the shared object features.

The forest never sees pixels: it sees one row of object features per object, defined once
in :mod:`specimen_imaging.measurements` (names, order and a feature-set version) and computed
by the same pipeline the segment service serves (:func:`specimen_imaging.extraction.extract_objects`).
This module holds the rules around it, free of any ML library:

* the feature contract: rows (from a request, or from this service's own measurements) must
  carry exactly the model's feature names, in its order, of its feature-set version, else a
  :class:`~specimen_classify.domain.errors.FeatureMismatch` (422) says what differs and how to
  fix it;
* the *unclear* rule: the top class probability below the model's ``unclear_threshold``
  answers :data:`~specimen_classify.domain.predictions.UNCLEAR`, and how the trainer chooses
  that threshold on validation data (:func:`choose_unclear_threshold`);
* :func:`classify_frame` (every object of a frame), :func:`classify_feature_rows` (a batch of
  rows as segment's ``/objects`` answers them) and :func:`crop_features` (the row of one
  training crop: its largest object).

Plankton frames are dark objects on a light background, so :class:`PlanktonSegmentation` has
the segment options' names, bounds and messages with plankton's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from specimen_classify.domain import dedup
from specimen_classify.domain.errors import FeatureMismatch
from specimen_classify.domain.predictions import UNCLEAR, PlanktonModel, PlanktonPrediction
from specimen_imaging.arrays import check_image
from specimen_imaging.flatfield import MAX_SIGMA
from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SET_VERSION
from specimen_imaging.options import MAX_AREA, ExtractionOptions
from specimen_imaging.thresholding import MAX_RADIUS
from specimen_kit.errors import InvalidParameter

DEFAULT_MIN_AREA = 10
"""Smallest object of a frame classified by default, in pixels (smaller specks are noise)."""
DEFAULT_CLOSING_RADIUS = 3
"""Closing of the mask, pixels: joins the faint strands of an aggregate to its body."""
DEFAULT_FLAT_FIELD_SIGMA = 32.0
"""Vignetting correction of a frame before thresholding, pixels (larger than the objects)."""
TARGET_PRECISION = 0.98
"""Share of the confident answers that must be right on validation data (see the threshold rule)."""
MIN_UNCLEAR_THRESHOLD = 0.5
"""The threshold never goes below a majority of the trees' votes."""
UNCLEAR_RULE = (
    f"the lowest top-class probability t such that, on the validation split, the objects whose "
    f"top probability is >= t are classified right at least {TARGET_PRECISION:.0%} of the time, "
    f"and at least {MIN_UNCLEAR_THRESHOLD} (a majority of the trees' votes); when no t reaches "
    f"the target, the t of the highest validation precision (the lowest such t)"
)
"""The rule :func:`choose_unclear_threshold` applies, as recorded in the model card."""


class PlanktonSegmentation(ExtractionOptions):
    """How a plankton frame is cut into objects: the segment ``/objects`` fields, plankton defaults.

    Dark objects on a light, vignetted background: the illumination is flattened first
    (``flat_field_sigma``; a global threshold of an uncorrected frame takes its dark corners for
    foreground and loses the objects there), then ``polarity=dark-on-light``, a closing that keeps
    an aggregate's faint strands attached, objects touching the frame's border dropped (they are
    cut off) and specks under :data:`DEFAULT_MIN_AREA` pixels ignored. Measured on generated
    frames (8 frames of 1024x1024, 320 objects, the default forest trained on crops): without the
    correction and the closing 29 objects were lost and 274 spurious ones found, 85 % of the
    others right; with them 1 lost, 20 extra fragments, 92.9 % right and 2.1 % unclear
    (phytoplankton aggregates, whose faint strands still break off, about 72 % right).
    """

    polarity: Literal["light-on-dark", "dark-on-light"] = Field(
        "dark-on-light", description="dark-on-light keeps pixels <= t (plankton on a light background)."
    )
    min_area: int = Field(DEFAULT_MIN_AREA, ge=0, le=MAX_AREA, description="Smallest object kept, in pixels.")
    keep_border: bool = Field(False, description="Keep objects touching the frame's border (cut off).")
    closing_radius: int = Field(
        DEFAULT_CLOSING_RADIUS, ge=0, le=MAX_RADIUS, description="Pixels; joins an aggregate's strands."
    )
    flat_field_sigma: float | None = Field(
        DEFAULT_FLAT_FIELD_SIGMA,
        gt=0,
        le=MAX_SIGMA,
        description="Vignetting correction first (Gaussian background blur, pixels); null turns it off.",
    )


CROP_SEGMENTATION = PlanktonSegmentation(min_area=0, keep_border=True, flat_field_sigma=None)
"""How a training crop is cut: plankton's threshold and closing, nothing dropped (a tight crop's
object may touch its border), no vignetting correction (a crop is too small to estimate its
background, and nearly even); :func:`crop_features` then keeps the largest object."""


@dataclass(frozen=True)
class ClassifiedObject:
    """One object of a frame with its features and the forest's answer.

    Attributes
    ----------
    object_id : int
        Its label in the frame's label image (1, 2, … in raster order of the first pixel).
    bbox : tuple of int
        ``(min_row, min_col, max_row, max_col)``, max exclusive (segment's convention).
    centroid : tuple of float
        ``(row, col)``.
    features : dict of str to float
        The feature row, keyed by :data:`~specimen_imaging.measurements.FEATURE_NAMES` (segment's
        ``/objects`` calls it ``features`` too).
    category, probability, scores
        As :class:`~specimen_classify.domain.predictions.PlanktonPrediction`.
    """

    object_id: int
    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]
    features: dict[str, float]
    category: str
    probability: float
    scores: dict[str, float]


# The feature contract -------------------------------------------------------------------------


def _differences(names: Sequence[str], version: str, model: PlanktonModel) -> list[str]:
    expected, got = tuple(model.feature_names), tuple(names)
    found: list[str] = []
    if str(version) != model.feature_set_version:
        found.append(f"feature_set_version is {str(version)!r}, the model's is {model.feature_set_version!r}")
    missing = [name for name in expected if name not in got]
    unknown = [name for name in dict.fromkeys(got) if name not in expected]
    repeated = [name for name in dict.fromkeys(got) if got.count(name) > 1]
    if missing:
        found.append(f"missing {', '.join(missing)}")
    if unknown:
        found.append(f"not in the model: {', '.join(unknown)}")
    if repeated:
        found.append(f"repeated: {', '.join(repeated)}")
    if not (missing or unknown or repeated) and got != expected:
        at = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
        found.append(
            f"the same names in another order: position {at} is {got[at]!r}, "
            f"the model expects {expected[at]!r}"
        )
    return found


def _mismatch(differences: list[str], model: PlanktonModel, what: str, fix: str) -> FeatureMismatch:
    return FeatureMismatch(
        f"{what} do not match plankton model version {model.version.version}: "
        f"{'; '.join(differences)}. {fix}",
        differences=differences,
        expected_feature_set_version=model.feature_set_version,
        expected_feature_names=list(model.feature_names),
    )


def check_feature_contract(
    feature_names: Sequence[str], feature_set_version: str, model: PlanktonModel
) -> None:
    """Refuse feature rows whose names, order or feature-set version differ from the model's.

    Parameters
    ----------
    feature_names : sequence of str
        The rows' column names, in their order (segment's ``/objects`` answers them).
    feature_set_version : str
        The feature definition the rows were measured with (also in segment's answer).
    model : PlanktonModel

    Raises
    ------
    FeatureMismatch
        Naming every difference (version, missing, unknown or repeated names, first position out
        of order) and the fix (422).
    """
    differences = _differences(feature_names, feature_set_version, model)
    if differences:
        raise _mismatch(
            differences,
            model,
            "the feature rows",
            f"Send rows measured with feature set {model.feature_set_version!r} with its "
            "feature_names in the model's order (as the segment service of that feature set "
            "answers /segment/objects), or retrain the plankton model on your feature set.",
        )


def check_service_features(model: PlanktonModel) -> None:
    """Refuse to classify frames with a model trained on another feature definition than this one.

    Raises
    ------
    FeatureMismatch
        The model's feature names, order or version differ from
        :mod:`specimen_imaging.measurements` (422); the fix is to retrain or activate a version
        trained on the current feature set.
    """
    differences = _differences(FEATURE_NAMES, FEATURE_SET_VERSION, model)
    if differences:
        raise _mismatch(
            differences,
            model,
            f"this service's measurements (feature set {FEATURE_SET_VERSION!r})",
            "Retrain the plankton model on the current feature set (python -m specimen_classify "
            "train plankton DATA_DIR --out DIR) or activate a version trained on it.",
        )


# The unclear rule -----------------------------------------------------------------------------


def _check_probabilities(probabilities: npt.NDArray[Any], classes: Sequence[str]) -> npt.NDArray[np.float64]:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != len(classes) or len(classes) == 0:
        raise ValueError(
            f"probabilities have shape {p.shape}; expected (n, {len(classes)}) for classes {list(classes)}"
        )
    return p


def unclear_mask(probabilities: npt.NDArray[Any], threshold: float) -> npt.NDArray[np.bool_]:
    """Rows whose top probability is below ``threshold`` (they answer *unclear*).

    Examples
    --------
    >>> unclear_mask(np.array([[0.6, 0.4], [0.5, 0.5]]), 0.55).tolist()
    [False, True]
    """
    p = np.asarray(probabilities, dtype=np.float64)
    out: npt.NDArray[np.bool_] = p.max(axis=1) < threshold
    return out


def predictions_of(
    probabilities: npt.NDArray[Any], classes: Sequence[str], threshold: float
) -> list[PlanktonPrediction]:
    """The answer for each row of class probabilities, with the unclear rule applied.

    The category is the most probable class (the first of equals, as scikit-learn's
    ``predict``), or *unclear* when its probability is below ``threshold``.

    Parameters
    ----------
    probabilities : ndarray, (n, len(classes))
    classes : sequence of str
    threshold : float
        In [0, 1]; 0 never answers *unclear*.

    Examples
    --------
    >>> [p.category for p in predictions_of(np.array([[0.7, 0.3], [0.5, 0.5]]), ["a", "b"], 0.6)]
    ['a', 'unclear']
    """
    p = _check_probabilities(probabilities, classes)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold={threshold} is out of range; use a value in [0, 1]")
    top = p.argmax(axis=1)
    unclear = unclear_mask(p, threshold)
    return [
        PlanktonPrediction(
            category=UNCLEAR if unclear[i] else classes[int(top[i])],
            probability=float(p[i, top[i]]),
            scores={name: float(value) for name, value in zip(classes, p[i], strict=True)},
        )
        for i in range(p.shape[0])
    ]


def categories_of(probabilities: npt.NDArray[Any], classes: Sequence[str], threshold: float) -> list[str]:
    """Only the category of each row (:func:`predictions_of`), for scoring many rows.

    Examples
    --------
    >>> categories_of(np.array([[0.2, 0.8], [0.5, 0.5]]), ["a", "b"], 0.6)
    ['b', 'unclear']
    """
    p = _check_probabilities(probabilities, classes)
    names = np.asarray(list(classes), dtype=object)[p.argmax(axis=1)]
    names[unclear_mask(p, threshold)] = UNCLEAR
    return [str(name) for name in names]


@dataclass(frozen=True)
class ThresholdChoice:
    """The unclear threshold chosen on validation data, and what it gives there.

    Attributes
    ----------
    threshold : float
    precision : float
        Share of the confident (not *unclear*) validation answers that are right.
    coverage : float
        Share of validation objects answered with a category (not *unclear*).
    target_reached : bool
        Whether ``precision`` reaches the target.
    """

    threshold: float
    precision: float
    coverage: float
    target_reached: bool


def choose_unclear_threshold(
    probabilities: npt.NDArray[Any],
    truth: npt.NDArray[np.integer[Any]],
    *,
    target_precision: float = TARGET_PRECISION,
    min_threshold: float = MIN_UNCLEAR_THRESHOLD,
) -> ThresholdChoice:
    """Choose the unclear threshold on validation data (the rule is :data:`UNCLEAR_RULE`).

    The candidates are ``min_threshold`` and every validation top probability above it; the
    precision at ``t`` is the accuracy of the rows whose top probability is ``>= t``. The lowest
    candidate whose precision reaches ``target_precision`` wins (the most objects answered for
    that precision); when none does, the lowest candidate of the highest precision.

    Parameters
    ----------
    probabilities : ndarray, (n, k)
        Validation class probabilities.
    truth : ndarray of int, (n,)
        Index of each row's true class.
    target_precision, min_threshold : float
        In (0, 1] and [0, 1].

    Examples
    --------
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])
    >>> choose_unclear_threshold(p, np.array([0, 0, 1, 0]), target_precision=0.9, min_threshold=0.5)
    ThresholdChoice(threshold=0.8, precision=1.0, coverage=0.5, target_reached=True)
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(truth)
    if p.ndim != 2 or y.shape != (p.shape[0],) or p.shape[0] == 0:
        raise ValueError(f"probabilities {p.shape} and truth {y.shape} must be (n, k) and (n,) with n >= 1")
    if not (0.0 < target_precision <= 1.0 and 0.0 <= min_threshold <= 1.0):
        raise ValueError(
            f"target_precision={target_precision} must be in (0, 1] and "
            f"min_threshold={min_threshold} in [0, 1]"
        )
    top = p.max(axis=1)
    order = np.argsort(-top, kind="stable")
    descending = top[order]
    right_so_far = np.cumsum(p.argmax(axis=1)[order] == y[order])
    candidates = np.unique(np.r_[min_threshold, top[top > min_threshold]])
    # Rows answered at each candidate t: those with top >= t, a prefix of the descending order.
    answered = np.searchsorted(-descending, -candidates, side="right")
    usable = answered > 0
    if not usable.any():
        return ThresholdChoice(float(min_threshold), 0.0, 0.0, False)
    candidates, answered = candidates[usable], answered[usable]
    precision = right_so_far[answered - 1] / answered
    reached = precision >= target_precision
    pick = int(np.argmax(reached)) if reached.any() else int(np.argmax(precision))
    return ThresholdChoice(
        threshold=float(candidates[pick]),
        precision=float(precision[pick]),
        coverage=float(answered[pick] / top.size),
        target_reached=bool(reached.any()),
    )


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


# Classifying rows and frames ------------------------------------------------------------------


def classify_objects(features: npt.NDArray[Any], model: PlanktonModel) -> list[PlanktonPrediction]:
    """Classify feature rows (already in the model's feature order) in one model call.

    Parameters
    ----------
    features : ndarray, (n, len(model.feature_names))
        Finite numbers.
    model : PlanktonModel

    Raises
    ------
    InvalidParameter
        Another shape, or a value that is not a finite number (422, the row and feature named).
    """
    width = len(model.feature_names)
    if not isinstance(features, np.ndarray) or features.ndim != 2 or features.shape[1] != width:
        got = features.shape if isinstance(features, np.ndarray) else type(features).__name__
        raise InvalidParameter(f"features have shape {got}; expected (n, {width}), one column per feature")
    rows = features.astype(np.float64, copy=False)
    bad = np.argwhere(~np.isfinite(rows))
    if bad.size:
        row, col = (int(v) for v in bad[0])
        raise InvalidParameter(
            f"row {row}: {model.feature_names[col]} is {rows[row, col]}; "
            "every feature must be a finite number"
        )
    if rows.shape[0] == 0:
        return []
    return predictions_of(model.class_probabilities(rows), model.classes, model.unclear_threshold)


def _shown_value(value: Any) -> str:
    return "null" if value is None else repr(value)


def feature_rows_matrix(
    rows: Sequence[Mapping[str, Any] | Sequence[Any]],
    feature_names: Sequence[str],
    row_labels: Sequence[str] | None = None,
) -> npt.NDArray[np.float64]:
    """Rows as segment's ``/objects`` answers them (``features`` objects) or as lists → a matrix.

    Parameters
    ----------
    rows : sequence
        Each row a mapping ``name → number`` with exactly ``feature_names`` as keys, or a
        sequence of ``len(feature_names)`` numbers in that order.
    feature_names : sequence of str
        The column order of the result.
    row_labels : sequence of str, optional
        How messages name each row (``"object 7"``); default ``"row <index>"``.

    Raises
    ------
    InvalidParameter
        A row of another length or other names, or a value that is not a finite number (null,
        text, NaN): the row and the feature are named (422). A null is refused rather than
        imputed: the forest was trained on complete rows only, and segment answers null only
        where a value cannot be measured (a degenerate object), so the fix is to leave that
        object out.

    Examples
    --------
    >>> feature_rows_matrix([{"b": 2, "a": 1}, [3, 4]], ["a", "b"]).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    names = list(feature_names)
    labels = list(row_labels) if row_labels is not None else [f"row {i}" for i in range(len(rows))]
    if len(labels) != len(rows):
        raise ValueError(f"{len(labels)} row labels for {len(rows)} rows")
    out = np.empty((len(rows), len(names)), np.float64)
    for i, row in enumerate(rows):
        label = labels[i]
        if isinstance(row, Mapping):
            missing = [n for n in names if n not in row]
            extra = [str(k) for k in row if k not in names]
            if missing or extra:
                parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                    [f"unknown {', '.join(extra)}"] if extra else []
                )
                raise InvalidParameter(f"{label} has other features than feature_names: {'; '.join(parts)}")
            values = [row[n] for n in names]
        elif isinstance(row, Sequence) and not isinstance(row, str | bytes):
            if len(row) != len(names):
                raise InvalidParameter(f"{label} has {len(row)} values; feature_names has {len(names)}")
            values = list(row)
        else:
            raise InvalidParameter(f"{label} is a {type(row).__name__}; send an object of features or a list")
        for j, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(float(value)):
                fix = (
                    "; segment answers null where a value cannot be measured: leave this object out"
                    if value is None
                    else ""
                )
                raise InvalidParameter(
                    f"{label}: {names[j]} is {_shown_value(value)}; "
                    f"every feature must be a finite number{fix}"
                )
            out[i, j] = float(value)
    return out


def classify_feature_rows(
    rows: Sequence[Mapping[str, Any] | Sequence[Any]],
    feature_names: Sequence[str],
    feature_set_version: str,
    model: PlanktonModel,
    max_rows: int | None = None,
    row_labels: Sequence[str] | None = None,
) -> list[PlanktonPrediction]:
    """Classify a batch of feature rows measured elsewhere (segment's ``/objects``).

    The row count is checked against ``max_rows`` and the contract
    (:func:`check_feature_contract`) first, then the rows are read in ``feature_names`` order
    (:func:`feature_rows_matrix`, whose messages name each row by ``row_labels``) and classified
    in one call.

    Raises
    ------
    FeatureMismatch
        ``feature_names`` or ``feature_set_version`` differ from the model's (422).
    InvalidParameter
        More than ``max_rows`` rows, or a malformed row (422).
    """
    if max_rows is not None and len(rows) > max_rows:
        raise InvalidParameter(f"the request holds {len(rows)} feature rows; send at most {max_rows}")
    check_feature_contract(feature_names, feature_set_version, model)
    return classify_objects(feature_rows_matrix(rows, feature_names, row_labels), model)


def category_counts(categories: Sequence[str], classes: Sequence[str]) -> dict[str, int]:
    """How many answers each class (and *unclear*) got, every class listed.

    Examples
    --------
    >>> category_counts(["b", "unclear", "b"], ["a", "b"])
    {'a': 0, 'b': 2, 'unclear': 1}
    """
    counts = dict.fromkeys((*classes, UNCLEAR), 0)
    for category in categories:
        counts[category] += 1
    return counts


def classify_frame(
    pixels: npt.NDArray[Any], model: PlanktonModel, options: PlanktonSegmentation | None = None
) -> list[ClassifiedObject]:
    """Cut every object out of a frame, measure it and classify it (one model call).

    Parameters
    ----------
    pixels : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        The decoded frame (RGB order when in colour).
    model : PlanktonModel
    options : PlanktonSegmentation, optional
        Threshold and object selection; default: plankton's (:class:`PlanktonSegmentation`).

    Returns
    -------
    list of ClassifiedObject
        In label order; empty when the frame holds no object.

    Raises
    ------
    FeatureMismatch
        The model was trained on another feature definition than this service's (422).
    FlatImage, InvalidParameter
        From the shared pipeline (422).
    """
    check_service_features(model)
    _, measured = (options or PlanktonSegmentation()).extract(pixels)
    predictions = classify_objects(measured.features, model)
    return [
        ClassifiedObject(
            object_id=int(measured.labels[i]),
            bbox=(int(r0), int(c0), int(r1), int(c1)),
            centroid=(float(measured.centroids[i, 0]), float(measured.centroids[i, 1])),
            features={
                name: float(v) for name, v in zip(FEATURE_NAMES, measured.features[i], strict=True)
            },
            category=prediction.category,
            probability=prediction.probability,
            scores=prediction.scores,
        )
        for i, ((r0, c0, r1, c1), prediction) in enumerate(
            zip(measured.bboxes.tolist(), predictions, strict=True)
        )
    ]


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
