"""The tumor/healthy CNN served with LiteRT (TensorFlow's lightweight runtime), no TensorFlow.

A model version's directory holds ``model.tflite`` (written by
:func:`specimen_classify.training.mri.train_mri`, float32, dynamic batch dimension, input
``(n, 32, 32, 1)``, output ``(n, 1)`` tumor probabilities) and ``card.json``, whose
``decision_threshold`` the runtime applies.

A LiteRT ``Interpreter`` holds its tensors in itself, so it is not safe to call from two
threads at once, and FastAPI runs sync handlers in a thread pool: every call holds a lock. One
interpreter thread (``num_threads=1``) is enough for this model: measured on the 2-core build
machine (best of 5), about 0.07 ms for one image and 0.09 ms per image in batches of 8-64, so
the lock is held far shorter than the request's decoding and cropping; replicas, not
interpreter threads, use more cores. Resizing the input for a new batch size costs about as
much as one call, so it is done only when the size changes.
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
from specimen_classify.domain.errors import InvalidImage, UnloadableModel
from specimen_classify.domain.predictions import ModelVersion
from specimen_classify.domain.preprocessing import INPUT_SIZE

MODEL_FILE = "model.tflite"


class LiteRtMriModel:
    """A loaded ``model.tflite``: implements :class:`~specimen_classify.domain.predictions.MriModel`.

    Parameters
    ----------
    model : bytes
        The flatbuffer's bytes.
    version : ModelVersion
    decision_threshold : float
        Tumor probability at or above which a slice is called *tumor*, in (0, 1).

    Raises
    ------
    UnloadableModel
        The bytes are not a LiteRT model, or its input or output is not the CNN's.
    """

    def __init__(self, model: bytes, version: ModelVersion, decision_threshold: float) -> None:
        if not 0.0 < decision_threshold < 1.0:
            raise UnloadableModel(f"decision_threshold={decision_threshold!r} must lie in (0, 1)")
        try:
            interpreter = Interpreter(model_content=model, num_threads=1)
        except (ValueError, RuntimeError) as error:
            raise UnloadableModel(f"the MRI model is not a loadable LiteRT model: {error}") from error
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise UnloadableModel(f"the MRI model must have one input and one output, "
                                  f"got {len(inputs)} and {len(outputs)}")
        shape = tuple(int(side) for side in inputs[0]["shape"])
        if shape[1:] != (INPUT_SIZE, INPUT_SIZE, 1) or inputs[0]["dtype"] != np.float32:
            raise UnloadableModel(f"the MRI model's input is {inputs[0]['dtype'].__name__} {shape}, "
                                  f"not float32 (n, {INPUT_SIZE}, {INPUT_SIZE}, 1)")
        self._interpreter: Any = interpreter
        self._input = int(inputs[0]["index"])
        self._output = int(outputs[0]["index"])
        self._batch = -1
        self._lock = threading.Lock()
        self._version = version
        self._threshold = float(decision_threshold)

    @classmethod
    def load(cls, version_dir: Path, version: ModelVersion) -> LiteRtMriModel:
        """Load ``version_dir/model.tflite`` with the threshold of ``version_dir/card.json``.

        Raises
        ------
        UnloadableModel
            A file is missing or unreadable, the card has no usable ``decision_threshold``,
            or the model is not the CNN.
        """
        try:
            model = (version_dir / MODEL_FILE).read_bytes()
            card = json.loads((version_dir / CARD_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UnloadableModel(f"the MRI model in {version_dir} cannot be read: {error}") from error
        threshold = card.get("decision_threshold") if isinstance(card, dict) else None
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise UnloadableModel(f"{version_dir / CARD_FILE} has no numeric decision_threshold")
        return cls(model, version, float(threshold))

    @property
    def version(self) -> ModelVersion:
        return self._version

    @property
    def decision_threshold(self) -> float:
        return self._threshold

    def tumor_probabilities(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Probabilities of *tumor* for a batch of 32x32 brain crops.

        Parameters
        ----------
        inputs : ndarray of float32, shape (n, 32, 32), values in [0, 1]

        Returns
        -------
        ndarray of float64, shape (n,)

        Raises
        ------
        InvalidImage
            Another dtype or shape (the message names it).
        """
        if not isinstance(inputs, np.ndarray) or inputs.dtype != np.float32:
            found = inputs.dtype if isinstance(inputs, np.ndarray) else type(inputs).__name__
            raise InvalidImage(f"MRI model inputs must be float32, got {found}")
        if inputs.ndim != 3 or inputs.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
            raise InvalidImage(f"MRI model inputs must have shape (n, {INPUT_SIZE}, {INPUT_SIZE}), "
                               f"got {inputs.shape}")
        count = inputs.shape[0]
        if count == 0:
            return np.zeros(0, np.float64)
        batch = np.ascontiguousarray(inputs.reshape(count, INPUT_SIZE, INPUT_SIZE, 1))
        with self._lock:
            if count != self._batch:
                # Resizing re-plans the tensors; done only when the batch size changes.
                self._interpreter.resize_tensor_input(self._input, [count, INPUT_SIZE, INPUT_SIZE, 1])
                self._interpreter.allocate_tensors()
                self._batch = count
            self._interpreter.set_tensor(self._input, batch)
            with INFERENCE_SECONDS.labels(self._version.name).time():
                self._interpreter.invoke()
            output = np.array(self._interpreter.get_tensor(self._output), dtype=np.float64, copy=True)
        return output.reshape(count)
