"""What the classifiers answer, and the small protocols the model runtimes implement.

Routes and domain code see only these types: the runtimes behind them (LiteRT for the CNN,
ONNX Runtime for the forest) live in :mod:`specimen_classify.adapters`, and TensorFlow and
scikit-learn only in the trainer (:mod:`specimen_classify.training`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from specimen_classify.domain.errors import NotABrainMri
from specimen_classify.domain.familiarity import unfamiliar_image
from specimen_classify.domain.preprocessing import BBox, BrainCrop, brain_crop, model_input
from specimen_kit.errors import Problem

MRI_MODEL = "mri-tumor"
"""Name of the tumor/healthy CNN in the model store."""
PLANKTON_MODEL = "plankton"
"""Name of the plankton random forest in the model store."""

MriLabel = Literal["tumor", "healthy"]
"""What a slice holds (a scan's true label, a confident answer)."""
MriAnswerLabel = Literal["tumor", "healthy", "uncertain"]
"""What the model answers: a label, or *uncertain* when the slice is unlike its training data."""
UNCERTAIN: MriAnswerLabel = "uncertain"


@dataclass(frozen=True)
class ModelVersion:
    """One version of one model of the store."""

    name: str
    version: int


TrainingDataKind = Literal["generated", "folder", "unknown"]


@dataclass(frozen=True)
class TrainingData:
    """Where a model's training data came from, in short (the card has the full provenance).

    Attributes
    ----------
    kind : {"generated", "folder", "unknown"}
        ``generated``: synthetic slices from Specimen's generator; ``folder``: images from a data
        folder (who knows what they are); ``unknown``: the card does not say (older versions).
    summary : str
        One line a client can show, e.g. ``"synthetic slices: specimen_classify.domain.synthetic_mri
        (specimen-classify 0.1.0), seed 0, 1200 per class"``.
    """

    kind: TrainingDataKind
    summary: str


UNKNOWN_TRAINING_DATA = TrainingData("unknown", "the model card does not say what the model was trained on")


@dataclass(frozen=True)
class MriScores:
    """What the network says about a batch of crops.

    Attributes
    ----------
    tumor_probability : ndarray of float64, (n,)
        Calibrated probability of *tumor*.
    ood_score : ndarray of float64, (n,), or None
        Distance of the crop's features to the training data
        (:func:`~specimen_classify.domain.familiarity.mahalanobis_scores`); None when the model
        version has no feature statistics (versions trained before issue 11).
    """

    tumor_probability: npt.NDArray[np.float64]
    ood_score: npt.NDArray[np.float64] | None


@dataclass(frozen=True)
class MriPrediction:
    """The answer for one MRI slice.

    Attributes
    ----------
    label : {"tumor", "healthy", "uncertain"}
        *uncertain* when the slice is out of distribution: then no probability is given.
    probability : float or None
        The model's calibrated probability of ``label`` (so always >= 0.5 with the default
        threshold); None when *uncertain*.
    tumor_probability : float or None
        The calibrated probability of *tumor*, whatever the label; None when *uncertain*.
    model : ModelVersion
    crop_box : tuple of int
        ``(min_row, min_col, max_row, max_col)`` of the brain in the sent image's pixels, max
        exclusive.
    decision_threshold : float
        The model's tumor probability at or above which ``label`` is *tumor* (from its card): a
        ``tumor_probability`` of 0.30 answers *tumor* when the threshold is 0.25.
    out_of_distribution : bool
        The slice failed an image check or its feature distance is above ``ood_threshold``.
    ood_score : float or None
        The feature distance (None when the model has no feature statistics).
    ood_threshold : float or None
        The model's threshold on ``ood_score`` (from its card).
    ood_reason : str or None
        Why the slice is out of distribution; None when it is not.
    training_data : TrainingData
        What the model was trained on, so a client can warn.
    """

    label: MriAnswerLabel
    probability: float | None
    tumor_probability: float | None
    model: ModelVersion
    crop_box: BBox
    decision_threshold: float
    out_of_distribution: bool = False
    ood_score: float | None = None
    ood_threshold: float | None = None
    ood_reason: str | None = None
    training_data: TrainingData = UNKNOWN_TRAINING_DATA


@dataclass(frozen=True)
class ConfidentAnswer:
    """A prediction that has a label: what a scan record keeps."""

    label: MriLabel
    probability: float
    tumor_probability: float


def confident(prediction: MriPrediction) -> ConfidentAnswer:
    """The prediction's label and probabilities, when it has them.

    Raises
    ------
    NotABrainMri
        The prediction is *uncertain* (out of distribution).
    """
    label = prediction.label
    if label == UNCERTAIN or prediction.probability is None or prediction.tumor_probability is None:
        raise NotABrainMri(prediction.ood_reason or "the model gave no label")
    return ConfidentAnswer(label="tumor" if label == "tumor" else "healthy",
                           probability=prediction.probability,
                           tumor_probability=prediction.tumor_probability)


class MriModel(Protocol):
    """A loaded tumor/healthy model: square crops in, calibrated probabilities and a distance out."""

    @property
    def version(self) -> ModelVersion: ...

    @property
    def decision_threshold(self) -> float:
        """Tumor probability at or above which the answer is *tumor* (recorded in the card)."""
        ...

    @property
    def input_size(self) -> int:
        """Side of the square input the network reads (32 for the reference CNN)."""
        ...

    @property
    def ood_threshold(self) -> float | None:
        """``ood_score`` above which a slice is out of distribution; None without statistics."""
        ...

    @property
    def training_data(self) -> TrainingData: ...

    def score(self, inputs: npt.NDArray[np.float32]) -> MriScores:
        """``inputs`` of shape (n, input_size, input_size) in [0, 1] → probabilities and distances."""
        ...


def classify_slices(slices: Sequence[npt.NDArray[Any]], model: MriModel) -> list[MriPrediction]:
    """Check and crop every slice and classify the crops in one model call.

    Parameters
    ----------
    slices : sequence of ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        Decoded slices (RGB channel order when in colour: colour is one of the image checks).
    model : MriModel

    Raises
    ------
    NoBrainFound
        A slice holds no head (422); nothing is classified then.
    """
    crops = [brain_crop(pixels) for pixels in slices]
    checked = [(crop, unfamiliar_image(pixels, crop)) for pixels, crop in zip(slices, crops, strict=True)]
    return _predict(checked, model)


def classify_each(
    items: Sequence[npt.NDArray[Any] | Problem], model: MriModel
) -> list[MriPrediction | Problem]:
    """Like :func:`classify_slices`, item by item: an item that failed stays its error.

    A stack of slices often holds a few with no brain (the top of the head); they answer their
    :class:`NoBrainFound` (or the decoding error they arrived as) and the others are classified
    in one model call.
    """
    results: list[MriPrediction | Problem | tuple[BrainCrop, str | None]] = []
    for item in items:
        if isinstance(item, Problem):
            results.append(item)
            continue
        try:
            crop = brain_crop(item)
        except Problem as error:
            results.append(error)
            continue
        results.append((crop, unfamiliar_image(item, crop)))
    crops = [r for r in results if isinstance(r, tuple)]
    predicted = iter(_predict(crops, model))
    return [next(predicted) if isinstance(r, tuple) else r for r in results]


def _predict(crops: Sequence[tuple[BrainCrop, str | None]], model: MriModel) -> list[MriPrediction]:
    if not crops:
        return []
    batch = np.stack([model_input(crop, model.input_size) for crop, _ in crops]).astype(np.float32)
    scores = model.score(batch)
    threshold = model.ood_threshold
    predictions = []
    for index, (crop, unfamiliar) in enumerate(crops):
        p = float(scores.tumor_probability[index])
        distance = None if scores.ood_score is None else float(scores.ood_score[index])
        reason = unfamiliar
        if reason is None and distance is not None and threshold is not None and distance > threshold:
            reason = (f"its features are {distance:.1f} from the training slices' (Mahalanobis), beyond "
                      f"the model's threshold {threshold:.1f}")
        answered = MriPrediction(label=UNCERTAIN, probability=None, tumor_probability=None,
                                 model=model.version, crop_box=crop.crop_box,
                                 decision_threshold=float(model.decision_threshold), ood_score=distance,
                                 ood_threshold=threshold, training_data=model.training_data)
        if reason is not None:
            predictions.append(replace(answered, out_of_distribution=True, ood_reason=reason))
            continue
        is_tumor = p >= model.decision_threshold
        predictions.append(replace(answered, label="tumor" if is_tumor else "healthy",
                                   probability=p if is_tumor else 1.0 - p, tumor_probability=p))
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
