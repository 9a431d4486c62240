"""The plankton random forest served with ONNX Runtime: no scikit-learn, no pickle.

A model version's directory holds ``model.onnx`` (written by
:func:`specimen_classify.training.plankton.train_plankton` with skl2onnx: input ``features``,
float32 ``(n, k)``; outputs ``label`` and ``probabilities`` ``(n, classes)``, no ZipMap) and
``card.json``, which names the classes, the feature names in order, the feature-set version and
the unclear threshold. The same classes, names and version are stamped into the ONNX file's
metadata at export; a version whose card and model disagree is refused at load.

The artifact is only ever read from the model store: an ONNX graph is data for the runtime's
fixed operators, unlike a pickle it cannot run code when loaded. ``InferenceSession.run`` is
safe to call from several threads; one intra-op thread is enough for a forest of this size and
lets replicas, not threads, use the cores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from specimen_classify.adapters.model_metrics import INFERENCE_SECONDS
from specimen_classify.adapters.model_store import CARD_FILE
from specimen_classify.domain.errors import UnloadableModel
from specimen_classify.domain.predictions import ModelVersion
from specimen_kit.errors import InvalidParameter

MODEL_FILE = "model.onnx"
INPUT_NAME = "features"
PROBABILITIES_OUTPUT = "probabilities"
METADATA_KEYS = ("classes", "feature_names", "feature_set_version")
"""Card fields also stamped into the ONNX metadata (JSON-encoded), checked equal at load."""


def _string_list(card: dict[str, Any], key: str, where: Path) -> tuple[str, ...]:
    value = card.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise UnloadableModel(f"{where} has no {key} (a non-empty list of names)")
    if len(set(value)) != len(value):
        raise UnloadableModel(f"{where} repeats a name in {key}")
    return tuple(value)


class OnnxPlanktonModel:
    """A loaded ``model.onnx``: implements :class:`~specimen_classify.domain.predictions.PlanktonModel`.

    Parameters
    ----------
    model : bytes
        The ONNX file's bytes.
    version : ModelVersion
    classes, feature_names : tuple of str
        The probability columns and the feature columns, in order.
    feature_set_version : str
    unclear_threshold : float
        In [0, 1].

    Raises
    ------
    UnloadableModel
        The bytes are not an ONNX model ONNX Runtime loads, its input or output does not fit
        the names given, or its metadata disagrees with them.
    """

    def __init__(
        self,
        model: bytes,
        version: ModelVersion,
        *,
        classes: tuple[str, ...],
        feature_names: tuple[str, ...],
        feature_set_version: str,
        unclear_threshold: float,
    ) -> None:
        if isinstance(unclear_threshold, bool) or not 0.0 <= unclear_threshold <= 1.0:
            raise UnloadableModel(f"unclear_threshold={unclear_threshold!r} must lie in [0, 1]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ONNX Runtime raises its own exception types for a bad file
            raise UnloadableModel(f"the plankton model is not a loadable ONNX model: {error}") from error
        inputs, outputs = session.get_inputs(), {o.name: o for o in session.get_outputs()}
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME or inputs[0].type != "tensor(float)":
            found = [(i.name, i.type) for i in inputs]
            raise UnloadableModel(
                f"the plankton model's inputs are {found}, not one float tensor {INPUT_NAME!r}"
            )
        width = inputs[0].shape[1] if len(inputs[0].shape) == 2 else None
        if width != len(feature_names):
            raise UnloadableModel(
                f"the plankton model takes {inputs[0].shape} features, the card names {len(feature_names)}"
            )
        if PROBABILITIES_OUTPUT not in outputs:
            raise UnloadableModel(
                f"the plankton model has no {PROBABILITIES_OUTPUT!r} output "
                f"(found {sorted(outputs)}); export it with zipmap disabled"
            )
        stamped = session.get_modelmeta().custom_metadata_map
        given = {
            "classes": list(classes),
            "feature_names": list(feature_names),
            "feature_set_version": feature_set_version,
        }
        for key in METADATA_KEYS:
            try:
                value = json.loads(stamped[key])
            except (KeyError, ValueError) as error:
                raise UnloadableModel(f"the plankton model's metadata lacks a readable {key!r}") from error
            if value != given[key]:
                raise UnloadableModel(f"the card's {key} {given[key]!r} differs from the model's {value!r}")
        self._session = session
        self._version = version
        self._classes = classes
        self._feature_names = feature_names
        self._feature_set_version = feature_set_version
        self._threshold = float(unclear_threshold)

    @classmethod
    def load(cls, version_dir: Path, version: ModelVersion) -> OnnxPlanktonModel:
        """Load ``version_dir/model.onnx`` with the names and threshold of ``version_dir/card.json``.

        Raises
        ------
        UnloadableModel
            A file is missing or unreadable, the card lacks a field, or it disagrees with the model.
        """
        card_path = version_dir / CARD_FILE
        try:
            model = (version_dir / MODEL_FILE).read_bytes()
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UnloadableModel(f"the plankton model in {version_dir} cannot be read: {error}") from error
        if not isinstance(card, dict):
            raise UnloadableModel(f"{card_path} is not a JSON object")
        threshold = card.get("unclear_threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise UnloadableModel(f"{card_path} has no numeric unclear_threshold")
        feature_set_version = card.get("feature_set_version")
        if not isinstance(feature_set_version, str) or not feature_set_version:
            raise UnloadableModel(f"{card_path} has no feature_set_version")
        return cls(
            model,
            version,
            classes=_string_list(card, "classes", card_path),
            feature_names=_string_list(card, "feature_names", card_path),
            feature_set_version=feature_set_version,
            unclear_threshold=float(threshold),
        )

    @property
    def version(self) -> ModelVersion:
        return self._version

    @property
    def classes(self) -> tuple[str, ...]:
        return self._classes

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._feature_names

    @property
    def feature_set_version(self) -> str:
        return self._feature_set_version

    @property
    def unclear_threshold(self) -> float:
        return self._threshold

    def class_probabilities(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Class probabilities of feature rows (columns in :attr:`feature_names` order).

        The rows are cast to float32, the forest's input type (scikit-learn's trees also
        compare float32 values).

        Parameters
        ----------
        features : ndarray, (n, len(feature_names))

        Returns
        -------
        ndarray of float64, (n, len(classes))

        Raises
        ------
        InvalidParameter
            Another shape (422).
        """
        width = len(self._feature_names)
        if not isinstance(features, np.ndarray) or features.ndim != 2 or features.shape[1] != width:
            got = features.shape if isinstance(features, np.ndarray) else type(features).__name__
            raise InvalidParameter(f"features have shape {got}; expected (n, {width})")
        if features.shape[0] == 0:
            return np.zeros((0, len(self._classes)), np.float64)
        batch = np.ascontiguousarray(features, dtype=np.float32)
        with INFERENCE_SECONDS.labels(self._version.name).time():
            (probabilities,) = self._session.run([PROBABILITIES_OUTPUT], {INPUT_NAME: batch})
        return np.asarray(probabilities, dtype=np.float64)
