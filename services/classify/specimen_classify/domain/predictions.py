"""What the classifiers answer, and the small protocols the model runtimes implement.

Routes and domain code see only these types: the runtimes behind them (LiteRT for the CNN,
ONNX Runtime for the forest) live in :mod:`specimen_classify.adapters`, and TensorFlow and
scikit-learn only in the trainer (:mod:`specimen_classify.training`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from specimen_classify.domain.preprocessing import BBox, BrainCrop, brain_crop
from specimen_kit.errors import Problem

MRI_MODEL = "mri-tumor"
"""Name of the tumor/healthy CNN in the model store."""
PLANKTON_MODEL = "plankton"
"""Name of the plankton random forest in the model store."""

MriLabel = Literal["tumor", "healthy"]


@dataclass(frozen=True)
class ModelVersion:
    """One version of one model of the store."""

    name: str
    version: int


@dataclass(frozen=True)
class MriPrediction:
    """The answer for one MRI slice.

    Attributes
    ----------
    label : {"tumor", "healthy"}
    probability : float
        The model's probability of ``label`` (so always >= 0.5 with the default threshold).
    tumor_probability : float
        The model's probability of *tumor*, whatever the label.
    model : ModelVersion
    crop_box : tuple of int
        ``(min_row, min_col, max_row, max_col)`` of the brain in the sent image's pixels, max
        exclusive.
    decision_threshold : float
        The model's tumor probability at or above which ``label`` is *tumor* (from its card): a
        ``tumor_probability`` of 0.30 answers *tumor* when the threshold is 0.25.
    """

    label: MriLabel
    probability: float
    tumor_probability: float
    model: ModelVersion
    crop_box: BBox
    decision_threshold: float


class MriModel(Protocol):
    """A loaded tumor/healthy model: 32x32 crops in, probabilities of *tumor* out."""

    @property
    def version(self) -> ModelVersion: ...

    @property
    def decision_threshold(self) -> float:
        """Tumor probability at or above which the answer is *tumor* (recorded in the card)."""
        ...

    def tumor_probabilities(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """``inputs`` of shape (n, 32, 32) in [0, 1] → (n,) probabilities of *tumor*."""
        ...


def classify_slices(slices: Sequence[npt.NDArray[Any]], model: MriModel) -> list[MriPrediction]:
    """Crop the brain of every slice and classify the crops in one model call.

    Parameters
    ----------
    slices : sequence of ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        Decoded slices (RGB channel order when in colour).
    model : MriModel

    Raises
    ------
    NoBrainFound
        A slice holds no head (422); nothing is classified then.
    """
    return _predict([brain_crop(pixels) for pixels in slices], model)


def classify_each(
    items: Sequence[npt.NDArray[Any] | Problem], model: MriModel
) -> list[MriPrediction | Problem]:
    """Like :func:`classify_slices`, item by item: an item that failed stays its error.

    A stack of slices often holds a few with no brain (the top of the head); they answer their
    :class:`NoBrainFound` (or the decoding error they arrived as) and the others are classified
    in one model call.
    """
    results: list[MriPrediction | Problem | BrainCrop] = []
    for item in items:
        if isinstance(item, Problem):
            results.append(item)
            continue
        try:
            results.append(brain_crop(item))
        except Problem as error:
            results.append(error)
    crops = [r for r in results if isinstance(r, BrainCrop)]
    predicted = iter(_predict(crops, model))
    return [next(predicted) if isinstance(r, BrainCrop) else r for r in results]


def _predict(crops: Sequence[BrainCrop], model: MriModel) -> list[MriPrediction]:
    if not crops:
        return []
    batch = np.stack([crop.input_32 for crop in crops]).astype(np.float32)
    tumor = model.tumor_probabilities(batch)
    predictions = []
    for crop, p_tumor in zip(crops, tumor, strict=True):
        p = float(p_tumor)
        is_tumor = p >= model.decision_threshold
        predictions.append(
            MriPrediction(
                label="tumor" if is_tumor else "healthy",
                probability=p if is_tumor else 1.0 - p,
                tumor_probability=p,
                model=model.version,
                crop_box=crop.crop_box,
                decision_threshold=float(model.decision_threshold),
            )
        )
    return predictions


UNCLEAR = "unclear"
"""The plankton answer when the forest's top probability is below the model's threshold."""


@dataclass(frozen=True)
class PlanktonPrediction:
    """The answer for one plankton object.

    Attributes
    ----------
    category : str
        One of the model's classes, or :data:`UNCLEAR` when ``probability`` is below the model's
        ``unclear_threshold``.
    probability : float
        The highest class probability (that of ``category`` unless it is *unclear*).
    scores : dict of str to float
        Every class's probability, in the model's class order; they sum to 1.
    """

    category: str
    probability: float
    scores: dict[str, float]


class PlanktonModel(Protocol):
    """A loaded plankton forest: feature rows in, class probabilities out.

    The rows hold the object measurements of ``feature_names`` (in that order) as defined by
    :mod:`specimen_imaging.measurements` version ``feature_set_version``; the domain checks a
    request against them (:func:`specimen_classify.domain.plankton.features.check_feature_contract`).
    """

    @property
    def version(self) -> ModelVersion: ...

    @property
    def classes(self) -> tuple[str, ...]: ...

    @property
    def feature_names(self) -> tuple[str, ...]: ...

    @property
    def feature_set_version(self) -> str: ...

    @property
    def unclear_threshold(self) -> float:
        """Top probability below which the answer is *unclear* (chosen on validation data)."""
        ...

    def class_probabilities(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``features`` of shape (n, len(feature_names)) → (n, len(classes)) probabilities."""
        ...
