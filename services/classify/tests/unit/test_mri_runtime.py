"""LiteRtMriModel: a real (untrained, seeded) reference CNN exported to LiteRT, against Keras.

Two artifacts: the one-output model of versions trained before issue 11 (served as it answers,
no feature distance) and the logit + features model trained now (temperature and Mahalanobis).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specimen_classify.adapters.mri_runtime import OOD_FILE, LiteRtMriModel
from specimen_classify.domain.calibration import sigmoid
from specimen_classify.domain.errors import InvalidImage, UnloadableModel
from specimen_classify.domain.familiarity import FeatureStatistics, mahalanobis_scores
from specimen_classify.domain.predictions import (
    MRI_MODEL,
    UNKNOWN_TRAINING_DATA,
    ModelVersion,
    MriModel,
    TrainingData,
    classify_slices,
)
from specimen_classify.domain.synthetic_mri import mri_slice

VERSION = ModelVersion(MRI_MODEL, 3)


@pytest.fixture(scope="module")
def keras_model() -> Any:
    keras = pytest.importorskip("keras")
    from specimen_classify.training.mri import build_cnn

    keras.utils.set_random_seed(0)
    return build_cnn("reference")


@pytest.fixture(scope="module")
def flatbuffer(keras_model: Any) -> bytes:
    from specimen_classify.training.mri import export_litert

    return export_litert(keras_model)


@pytest.fixture
def version_dir(tmp_path: Path, flatbuffer: bytes) -> Path:
    (tmp_path / "model.tflite").write_bytes(flatbuffer)
    (tmp_path / "card.json").write_text(json.dumps({"name": MRI_MODEL, "decision_threshold": 0.4}))
    return tmp_path


def _inputs(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((count, 32, 32), dtype=np.float32)


class TestLoad:
    def test_reads_the_threshold_from_the_card_and_keeps_the_version(self, version_dir: Path) -> None:
        model: MriModel = LiteRtMriModel.load(version_dir, VERSION)

        assert model.version == VERSION
        assert model.decision_threshold == 0.4

    def test_a_missing_card_is_unloadable(self, version_dir: Path) -> None:
        (version_dir / "card.json").unlink()

        with pytest.raises(UnloadableModel, match="cannot be read"):
            LiteRtMriModel.load(version_dir, VERSION)

    @pytest.mark.parametrize("card", [{}, {"decision_threshold": "0.5"}, {"decision_threshold": 1.0}])
    def test_a_card_without_a_usable_threshold_is_unloadable(
        self, version_dir: Path, card: dict[str, Any]
    ) -> None:
        (version_dir / "card.json").write_text(json.dumps(card))

        with pytest.raises(UnloadableModel, match="decision_threshold"):
            LiteRtMriModel.load(version_dir, VERSION)

    def test_bytes_that_are_no_model_are_unloadable(self, version_dir: Path) -> None:
        (version_dir / "model.tflite").write_bytes(b"not a flatbuffer at all")

        with pytest.raises(UnloadableModel, match="not a loadable LiteRT model"):
            LiteRtMriModel.load(version_dir, VERSION)

    def test_a_model_with_another_input_is_unloadable(self) -> None:
        keras = pytest.importorskip("keras")
        from specimen_classify.training.mri import export_litert

        other = keras.Sequential([keras.Input(shape=(28, 32, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(1, activation="sigmoid")])

        with pytest.raises(UnloadableModel, match=r"not float32 \(n, side, side, 1\)"):
            LiteRtMriModel(export_litert(other), VERSION, 0.5)


class TestTumorProbabilities:
    def test_equal_keras_within_1e_5_as_float64_of_shape_n(self, keras_model: Any, flatbuffer: bytes) -> None:
        inputs = _inputs(7)
        model = LiteRtMriModel(flatbuffer, VERSION, 0.5)

        found = model.tumor_probabilities(inputs)
        expected = keras_model.predict(inputs[..., np.newaxis], verbose=0).reshape(-1)

        assert found.shape == (7,) and found.dtype == np.float64
        assert np.max(np.abs(found - expected)) <= 1e-5

    def test_batch_size_may_change_between_calls(self, flatbuffer: bytes) -> None:
        model = LiteRtMriModel(flatbuffer, VERSION, 0.5)
        inputs = _inputs(5, seed=1)

        one = model.tumor_probabilities(inputs[:1])
        five = model.tumor_probabilities(inputs)
        one_again = model.tumor_probabilities(inputs[:1])

        assert one.shape == (1,) and five.shape == (5,)
        assert one_again.tolist() == one.tolist()
        assert abs(five[0] - one[0]) <= 1e-6

    def test_an_empty_batch_gives_no_probabilities(self, flatbuffer: bytes) -> None:
        model = LiteRtMriModel(flatbuffer, VERSION, 0.5)

        found = model.tumor_probabilities(np.zeros((0, 32, 32), np.float32))

        assert found.shape == (0,) and found.dtype == np.float64

    @pytest.mark.parametrize(("inputs", "message"), [
        (np.zeros((2, 32, 32), np.float64), "must be float32, got float64"),
        (np.zeros((2, 32, 32, 1), np.float32), r"shape \(n, 32, 32\), got \(2, 32, 32, 1\)"),
        (np.zeros((32, 32), np.float32), r"got \(32, 32\)"),
    ])
    def test_other_dtypes_and_shapes_are_refused(
        self, flatbuffer: bytes, inputs: np.ndarray, message: str
    ) -> None:
        with pytest.raises(InvalidImage, match=message):
            LiteRtMriModel(flatbuffer, VERSION, 0.5).tumor_probabilities(inputs)

    def test_calls_from_many_threads_answer_as_one_thread_does(self, flatbuffer: bytes) -> None:
        model = LiteRtMriModel(flatbuffer, VERSION, 0.5)
        batches = [_inputs(1 + i % 4, seed=i) for i in range(40)]
        serial = [model.tumor_probabilities(batch).tolist() for batch in batches]

        with ThreadPoolExecutor(max_workers=8) as pool:
            threaded = list(pool.map(lambda batch: model.tumor_probabilities(batch).tolist(), batches))

        assert threaded == serial


class TestWithClassifySlices:
    def test_labels_follow_the_recorded_threshold(self, version_dir: Path) -> None:
        model = LiteRtMriModel.load(version_dir, VERSION)
        slices = [mri_slice((1, i), has_tumor=bool(i % 2), size=128).image for i in range(4)]

        predictions = classify_slices(slices, model)

        assert [p.model for p in predictions] == [VERSION] * 4
        for p in predictions:
            assert p.label == ("tumor" if p.tumor_probability >= 0.4 else "healthy")
            assert p.probability == (p.tumor_probability if p.label == "tumor" else 1.0 - p.tumor_probability)


@pytest.fixture(scope="module")
def two_outputs(keras_model: Any) -> tuple[Any, bytes]:
    from specimen_classify.training.mri import export_litert, with_features_output

    exported = with_features_output(keras_model)
    return exported, export_litert(exported)


def _statistics(dimension: int) -> FeatureStatistics:
    rng = np.random.default_rng(4)
    scale = rng.random((dimension, dimension)) / dimension
    return FeatureStatistics(means=rng.random((2, dimension)), precision=np.eye(dimension) + scale @ scale.T)


@pytest.fixture
def logit_version_dir(tmp_path: Path, two_outputs: tuple[Any, bytes]) -> Path:
    tmp_path = tmp_path / "logit"
    tmp_path.mkdir()
    (tmp_path / "model.tflite").write_bytes(two_outputs[1])
    statistics = _statistics(512)
    np.savez(tmp_path / OOD_FILE, means=statistics.means, precision=statistics.precision)
    (tmp_path / "card.json").write_text(json.dumps({
        "name": MRI_MODEL, "decision_threshold": 0.4, "output": {"kind": "logit", "temperature": 2.0},
        "out_of_distribution": {"threshold": 30.0},
        "training_data": {"kind": "generated", "summary": "synthetic slices, seed 0"}}))
    return tmp_path


class TestLogitAndFeatures:
    def test_probability_is_the_sigmoid_of_the_logit_over_the_temperature(
        self, logit_version_dir: Path, two_outputs: tuple[Any, bytes]
    ) -> None:
        model = LiteRtMriModel.load(logit_version_dir, VERSION)
        inputs = _inputs(6, seed=2)
        logits, features = two_outputs[0].predict(inputs[..., np.newaxis], verbose=0)

        scores = model.score(inputs)

        assert model.temperature == 2.0 and model.ood_threshold == 30.0 and model.input_size == 32
        expected = sigmoid(np.asarray(logits, np.float64).reshape(-1) / 2.0)
        assert np.max(np.abs(scores.tumor_probability - expected)) <= 1e-5
        assert scores.ood_score is not None
        np.testing.assert_allclose(scores.ood_score, mahalanobis_scores(features, _statistics(512)),
                                   rtol=1e-4)

    def test_the_training_data_of_the_card_is_served(self, logit_version_dir: Path,
                                                     version_dir: Path) -> None:
        assert LiteRtMriModel.load(logit_version_dir, VERSION).training_data == TrainingData(
            "generated", "synthetic slices, seed 0")
        # Versions trained before the card said it.
        assert LiteRtMriModel.load(version_dir, VERSION).training_data == UNKNOWN_TRAINING_DATA

    def test_a_one_output_model_has_no_distance(self, version_dir: Path) -> None:
        scores = LiteRtMriModel.load(version_dir, VERSION).score(_inputs(2))

        assert scores.ood_score is None

    def test_missing_feature_statistics_are_unloadable(self, logit_version_dir: Path) -> None:
        (logit_version_dir / OOD_FILE).unlink()

        with pytest.raises(UnloadableModel, match=OOD_FILE):
            LiteRtMriModel.load(logit_version_dir, VERSION)

    def test_statistics_of_another_width_are_unloadable(self, logit_version_dir: Path) -> None:
        statistics = _statistics(8)
        np.savez(logit_version_dir / OOD_FILE, means=statistics.means, precision=statistics.precision)

        with pytest.raises(UnloadableModel, match="512 features but the statistics 8"):
            LiteRtMriModel.load(logit_version_dir, VERSION)

    def test_a_logit_card_on_a_one_output_model_is_unloadable(self, logit_version_dir: Path,
                                                               flatbuffer: bytes) -> None:
        (logit_version_dir / "model.tflite").write_bytes(flatbuffer)

        with pytest.raises(UnloadableModel, match="a logit and a features output"):
            LiteRtMriModel.load(logit_version_dir, VERSION)

    @pytest.mark.parametrize("output", [{"kind": "probability"}, {"kind": "logit"},
                                        {"kind": "logit", "temperature": True}])
    def test_an_unusable_output_section_is_unloadable(self, logit_version_dir: Path,
                                                      output: dict[str, Any]) -> None:
        card = json.loads((logit_version_dir / "card.json").read_text())
        (logit_version_dir / "card.json").write_text(json.dumps({**card, "output": output}))

        with pytest.raises(UnloadableModel, match="output"):
            LiteRtMriModel.load(logit_version_dir, VERSION)
