"""Plankton objects sorted into categories by the forest, on the shared object features.

The forest never sees pixels: it sees one row of object features per object, defined once in
:mod:`specimen_imaging.measurements` (names, order and a feature-set version) and computed by
the same pipeline the segment service serves (:func:`specimen_imaging.extraction.extract_objects`):
:func:`classify_frame` (every object of a frame) and :func:`classify_feature_rows` (a batch of
rows as segment's ``/objects`` answers them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from specimen_classify.domain.plankton.crops import crop_object
from specimen_classify.domain.plankton.features import (
    check_feature_contract,
    check_service_features,
    feature_rows_matrix,
    model_columns,
)
from specimen_classify.domain.plankton.segmentation import PlanktonSegmentation
from specimen_classify.domain.plankton.unclear import predictions_of
from specimen_classify.domain.predictions import UNCLEAR, PlanktonModel, PlanktonPrediction
from specimen_imaging.objects import Objects
from specimen_kit.errors import InvalidParameter


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
        The feature row, keyed by the model's feature names (segment's ``/objects`` calls it
        ``features`` too).
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
    in one call. Rows of a later feature set that contains the model's (segment answering set 2
    to a set 1 model, :func:`~.features.model_columns`) are accepted: the model reads its columns.

    Raises
    ------
    FeatureMismatch
        ``feature_names`` or ``feature_set_version`` differ from the model's (422).
    InvalidParameter
        More than ``max_rows`` rows, or a malformed row (422).
    """
    if max_rows is not None and len(rows) > max_rows:
        raise InvalidParameter(f"the request holds {len(rows)} feature rows; send at most {max_rows}")
    columns = model_columns(feature_names, feature_set_version, model)
    if columns is not None:
        matrix = feature_rows_matrix(rows, feature_names, row_labels)
        return classify_objects(matrix[:, columns], model)
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
    return classify_frame_objects(pixels, model, options)[1]


def classify_frame_objects(
    pixels: npt.NDArray[Any], model: PlanktonModel, options: PlanktonSegmentation | None = None
) -> tuple[Objects, list[ClassifiedObject]]:
    """:func:`classify_frame` and the frame's label image, so that a run can cut each object's
    crop and mask (:mod:`specimen_classify.domain.plankton.vignettes`) from the same labels.

    Returns
    -------
    (Objects, list of ClassifiedObject)
        The label image (object ``o`` is ``labels == o.object_id``) and the objects.
    """
    check_service_features(model)
    objects, measured = (options or PlanktonSegmentation()).extract(
        pixels, feature_set=model.feature_set_version)
    predictions = classify_objects(measured.features, model)
    names = measured.feature_names
    return objects, [
        ClassifiedObject(
            object_id=label,
            bbox=(r0, c0, r1, c1),
            centroid=(row, col),
            features=dict(zip(names, values, strict=True)),
            category=prediction.category,
            probability=prediction.probability,
            scores=prediction.scores,
        )
        for label, (r0, c0, r1, c1), (row, col), values, prediction in zip(
            measured.labels.tolist(), measured.bboxes.tolist(), measured.centroids.tolist(),
            measured.features.tolist(), predictions, strict=True,
        )
    ]


def classify_crop(pixels: npt.NDArray[Any], model: PlanktonModel) -> list[ClassifiedObject]:
    """Classify one vignette as the trainer featurises crops (:func:`~.crops.crop_object`).

    Returns
    -------
    list of ClassifiedObject
        The crop's organism (object id 1, bbox and centroid in the crop), or nothing when the
        crop holds no object.

    Raises
    ------
    FeatureMismatch
        The model's feature set is not one this service measures (422).
    FlatImage, InvalidParameter
        A blank crop, a bad array (422).
    """
    check_service_features(model)
    found = crop_object(pixels, feature_set=model.feature_set_version)
    if found is None:
        return []
    (prediction,) = classify_objects(found.features[None, :], model)
    return [
        ClassifiedObject(
            object_id=1,
            bbox=found.bbox,
            centroid=found.centroid,
            features={name: float(v) for name, v in zip(model.feature_names, found.features, strict=True)},
            category=prediction.category,
            probability=prediction.probability,
            scores=prediction.scores,
        )
    ]
