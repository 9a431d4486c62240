"""The tumor/healthy CNN served with LiteRT (TensorFlow's lightweight runtime), no TensorFlow.

A model version's directory holds ``model.tflite`` (written by
:func:`specimen_classify.training.mri.train_mri`, float32, dynamic batch dimension, input
``(n, side, side, 1)``), ``card.json`` and, for versions trained since issue 11, ``ood.npz``.

Two kinds of artifact are served:

- **logit + features** (``card["output"]["kind"] == "logit"``, every version trained now): two
  outputs, the tumor logit ``(n, 1)`` and the penultimate features ``(n, d)``. The runtime
  divides the logit by the card's ``temperature`` (fitted on validation data, see
  :mod:`specimen_classify.domain.calibration`) and applies the sigmoid, and scores the features'
  Mahalanobis distance with the class means and precision matrix of ``ood.npz``
  (:mod:`specimen_classify.domain.familiarity`) against the card's threshold.
- **probability** (cards without ``output``: versions trained before): one output, the sigmoid
  probability, served as it is, with no feature distance (the image checks still apply).

The card's ``decision_threshold`` and ``training_data`` are served with every answer.

A LiteRT ``Interpreter`` holds its tensors in itself, so it is not safe to call from two
threads at once, and FastAPI runs sync handlers in a thread pool: every call holds a lock. One
interpreter thread (``num_threads=1``) is enough for these models: the reference CNN measured on
the 2-core build machine (best of 5) about 0.07 ms for one image and 0.09 ms per image in
batches of 8-64, so the lock is held far shorter than the request's decoding and cropping;
replicas, not interpreter threads, use more cores. Resizing the input for a new batch size costs
about as much as one call, so it is done only when the size changes.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from ai_edge_litert.interpreter import Interpreter

from specimen_classify.adapters.model_metrics import INFERENCE_SECONDS
from specimen_classify.adapters.model_store import CARD_FILE
from specimen_classify.domain.calibration import sigmoid
from specimen_classify.domain.errors import InvalidImage, UnloadableModel
from specimen_classify.domain.familiarity import FeatureStatistics, mahalanobis_scores
from specimen_classify.domain.predictions import (
    UNKNOWN_TRAINING_DATA,
    ModelVersion,
    MriScores,
    TrainingData,
)

MODEL_FILE = "model.tflite"
OOD_FILE = "ood.npz"
"""Class means (``means``) and shared precision matrix (``precision``) of the training features."""
TRAINING_DATA_KINDS = ("generated", "folder", "unknown")


class LiteRtMriModel:
    """A loaded ``model.tflite``: implements :class:`~specimen_classify.domain.predictions.MriModel`.

    Parameters
    ----------
    model : bytes
        The flatbuffer's bytes.
    version : ModelVersion
    decision_threshold : float
        Tumor probability at or above which a slice is called *tumor*, in (0, 1).
    temperature : float or None
        Divides the logit output before the sigmoid; None for a model whose one output is
        already the probability.
    ood : FeatureStatistics or None
        The training features' statistics; needs ``ood_threshold`` and a features output.
    ood_threshold : float or None
    training_data : TrainingData

    Raises
    ------
    UnloadableModel
        The bytes are not a LiteRT model, or its inputs or outputs are not the CNN's.
    """

    def __init__(self, model: bytes, version: ModelVersion, decision_threshold: float, *,
                 temperature: float | None = None, ood: FeatureStatistics | None = None,
                 ood_threshold: float | None = None,
                 training_data: TrainingData = UNKNOWN_TRAINING_DATA) -> None:
        if not 0.0 < decision_threshold < 1.0:
            raise UnloadableModel(f"decision_threshold={decision_threshold!r} must lie in (0, 1)")
        if temperature is not None and not (np.isfinite(temperature) and temperature > 0):
            raise UnloadableModel(f"temperature={temperature!r} must be a positive number")
        if (ood is None) != (ood_threshold is None) or (ood is not None and temperature is None):
            raise UnloadableModel("feature statistics need a threshold and a logit + features model")
        try:
            interpreter = Interpreter(model_content=model, num_threads=1)
        except (ValueError, RuntimeError) as error:
            raise UnloadableModel(f"the MRI model is not a loadable LiteRT model: {error}") from error
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        wanted = 1 if temperature is None else 2
        if len(inputs) != 1 or len(outputs) != wanted:
            kind = "a probability" if wanted == 1 else "a logit and a features"
            raise UnloadableModel(f"the MRI model must have one input and {kind} output, "
                                  f"got {len(inputs)} input(s) and {len(outputs)} output(s)")
        shape = tuple(int(side) for side in inputs[0]["shape"])
        if (len(shape) != 4 or shape[1] != shape[2] or shape[3] != 1 or shape[1] < 8
                or inputs[0]["dtype"] != np.float32):
            raise UnloadableModel(f"the MRI model's input is {inputs[0]['dtype'].__name__} {shape}, "
                                  "not float32 (n, side, side, 1)")
        # The converter orders outputs as it likes; the logit is the one with one column.
        widths = [int(out["shape"][-1]) for out in outputs]
        logit = widths.index(1) if 1 in widths else -1
        if logit < 0 or (wanted == 2 and widths.count(1) != 1):
            raise UnloadableModel(f"the MRI model's outputs have widths {widths}; one must be the "
                                  "(n, 1) tumor output")
        features = 1 - logit if wanted == 2 else None
        if ood is not None and features is not None and widths[features] != ood.dimension:
            raise UnloadableModel(f"the model has {widths[features]} features but the statistics "
                                  f"{ood.dimension}")
        self._interpreter: Any = interpreter
        self._input = int(inputs[0]["index"])
        self._side = shape[1]
        self._output = int(outputs[logit]["index"])
        self._features = None if features is None else int(outputs[features]["index"])
        self._batch = -1
        self._lock = threading.Lock()
        self._version = version
        self._threshold = float(decision_threshold)
        self._temperature = temperature
        self._ood = ood
        self._ood_threshold = None if ood_threshold is None else float(ood_threshold)
        self._training_data = training_data

    @classmethod
    def load(cls, version_dir: Path, version: ModelVersion) -> LiteRtMriModel:
        """Load ``version_dir/model.tflite`` with what ``card.json`` (and ``ood.npz``) say.

        Raises
        ------
        UnloadableModel
            A file is missing or unreadable, the card has no usable ``decision_threshold`` (or
            temperature, feature statistics, threshold), or the model is not the CNN.
        """
        try:
            model = (version_dir / MODEL_FILE).read_bytes()
            card = json.loads((version_dir / CARD_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UnloadableModel(f"the MRI model in {version_dir} cannot be read: {error}") from error
        if not isinstance(card, dict):
            raise UnloadableModel(f"{version_dir / CARD_FILE} is not a JSON object")
        threshold = _number(card.get("decision_threshold"), "decision_threshold", version_dir)
        output = card.get("output")
        if output is None:
            return cls(model, version, threshold, training_data=_training_data(card))
        if not isinstance(output, dict) or output.get("kind") != "logit":
            raise UnloadableModel(f"{version_dir / CARD_FILE} has an output of unknown kind: {output!r}")
        temperature = _number(output.get("temperature"), "output.temperature", version_dir)
        familiarity = card.get("out_of_distribution")
        ood_threshold = _number(familiarity.get("threshold") if isinstance(familiarity, dict) else None,
                                "out_of_distribution.threshold", version_dir)
        try:
            with np.load(version_dir / OOD_FILE, allow_pickle=False) as stored:
                statistics = FeatureStatistics(means=np.asarray(stored["means"], np.float64),
                                               precision=np.asarray(stored["precision"], np.float64))
        except (OSError, KeyError, ValueError) as error:
            raise UnloadableModel(
                f"the MRI model's {OOD_FILE} in {version_dir} cannot be read: {error}") from error
        return cls(model, version, threshold, temperature=temperature, ood=statistics,
                   ood_threshold=ood_threshold, training_data=_training_data(card))

    @property
    def version(self) -> ModelVersion:
        return self._version

    @property
    def decision_threshold(self) -> float:
        return self._threshold

    @property
    def input_size(self) -> int:
        return self._side

    @property
    def ood_threshold(self) -> float | None:
        return self._ood_threshold

    @property
    def temperature(self) -> float | None:
        return self._temperature

    @property
    def training_data(self) -> TrainingData:
        return self._training_data

    def tumor_probabilities(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Calibrated probabilities of *tumor* for a batch of crops (:meth:`score`'s first half)."""
        return self.score(inputs).tumor_probability

    def outputs(
        self, inputs: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
        """The network's raw outputs: the tumor logit (or probability) ``(n,)`` and features ``(n, d)``.

        Raises
        ------
        InvalidImage
            Another dtype or shape (the message names it).
        """
        side = self._side
        if not isinstance(inputs, np.ndarray) or inputs.dtype != np.float32:
            found = inputs.dtype if isinstance(inputs, np.ndarray) else type(inputs).__name__
            raise InvalidImage(f"MRI model inputs must be float32, got {found}")
        if inputs.ndim != 3 or inputs.shape[1:] != (side, side):
            raise InvalidImage(f"MRI model inputs must have shape (n, {side}, {side}), got {inputs.shape}")
        count = inputs.shape[0]
        if count == 0:
            return np.zeros(0, np.float64), (None if self._features is None else np.zeros((0, 0)))
        batch = np.ascontiguousarray(inputs.reshape(count, side, side, 1))
        with self._lock:
            if count != self._batch:
                # Resizing re-plans the tensors; done only when the batch size changes.
                self._interpreter.resize_tensor_input(self._input, [count, side, side, 1])
                self._interpreter.allocate_tensors()
                self._batch = count
            self._interpreter.set_tensor(self._input, batch)
            with INFERENCE_SECONDS.labels(self._version.name).time():
                self._interpreter.invoke()
            output = np.array(self._interpreter.get_tensor(self._output), dtype=np.float64, copy=True)
            features = (None if self._features is None else
                        np.array(self._interpreter.get_tensor(self._features), dtype=np.float64, copy=True))
        return output.reshape(count), features

    def score(self, inputs: npt.NDArray[np.float32]) -> MriScores:
        """Calibrated tumor probabilities and feature distances for a batch of square crops.

        Parameters
        ----------
        inputs : ndarray of float32, shape (n, side, side), values in [0, 1]

        Raises
        ------
        InvalidImage
            Another dtype or shape (the message names it).
        """
        raw, features = self.outputs(inputs)
        if self._temperature is None:
            return MriScores(tumor_probability=raw, ood_score=None)
        probability = sigmoid(raw / self._temperature)
        distance = None
        if self._ood is not None and features is not None:
            distance = (mahalanobis_scores(features, self._ood) if raw.size
                        else np.zeros(0, np.float64))
        return MriScores(tumor_probability=probability, ood_score=distance)


def _number(value: Any, name: str, version_dir: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnloadableModel(f"{version_dir / CARD_FILE} has no numeric {name}")
    return float(value)


def _training_data(card: dict[str, Any]) -> TrainingData:
    """The card's ``training_data`` (short provenance); unknown for cards written before it."""
    found = card.get("training_data")
    if (isinstance(found, dict) and found.get("kind") in TRAINING_DATA_KINDS
            and isinstance(found.get("summary"), str)):
        return TrainingData(kind=found["kind"], summary=found["summary"])
    return UNKNOWN_TRAINING_DATA
