"""The ONNX Runtime forest, on a real tiny forest trained and exported here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from specimen_classify.adapters.forest_runtime import CARD_FILE, MODEL_FILE, OnnxPlanktonModel
from specimen_classify.domain.errors import FeatureMismatch, UnloadableModel
from specimen_classify.domain.plankton.classify import classify_feature_rows
from specimen_classify.domain.predictions import UNCLEAR, ModelVersion
from specimen_classify.training.plankton import export_onnx
from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SET_VERSION
from specimen_kit.errors import InvalidParameter

CLASSES = ("round", "long", "fluffy")
VERSION = ModelVersion("plankton", 4)


@pytest.fixture(scope="module")
def forest_and_rows() -> tuple[RandomForestClassifier, np.ndarray]:
    rng = np.random.default_rng(7)
    targets = np.repeat(np.arange(3), 20)
    rows = rng.normal(size=(60, len(FEATURE_NAMES))) + targets[:, None] * 1.5
    # float32-exact values, so that both runtimes compare the same numbers with the thresholds.
    rows = rows.astype(np.float32).astype(np.float64)
    forest = RandomForestClassifier(n_estimators=7, random_state=0).fit(rows, targets)
    return forest, rows


@pytest.fixture
def version_dir(tmp_path: Path, forest_and_rows) -> Path:
    forest, _ = forest_and_rows
    (tmp_path / MODEL_FILE).write_bytes(export_onnx(forest, CLASSES))
    card = {
        "classes": list(CLASSES),
        "feature_names": list(FEATURE_NAMES),
        "feature_set_version": FEATURE_SET_VERSION,
        "unclear_threshold": 0.55,
    }
    (tmp_path / CARD_FILE).write_text(json.dumps(card))
    return tmp_path


def _edit_card(version_dir: Path, **changes: object) -> None:
    card = json.loads((version_dir / CARD_FILE).read_text())
    card.update(changes)
    (version_dir / CARD_FILE).write_text(json.dumps(card))


class TestOnnxPlanktonModel:
    def test_loads_the_card_and_equals_predict_proba(self, version_dir, forest_and_rows):
        forest, rows = forest_and_rows
        model = OnnxPlanktonModel.load(version_dir, VERSION)
        assert (
            model.version,
            model.classes,
            model.feature_names,
            model.feature_set_version,
            model.unclear_threshold,
        ) == (VERSION, CLASSES, FEATURE_NAMES, FEATURE_SET_VERSION, 0.55)
        probabilities = model.class_probabilities(rows)
        assert probabilities.dtype == np.float64 and probabilities.shape == (60, 3)
        assert np.max(np.abs(probabilities - forest.predict_proba(rows))) <= 1e-5

    def test_one_row_and_no_row(self, version_dir, forest_and_rows):
        forest, rows = forest_and_rows
        model = OnnxPlanktonModel.load(version_dir, VERSION)
        assert np.max(np.abs(model.class_probabilities(rows[:1]) - forest.predict_proba(rows[:1]))) <= 1e-5
        assert model.class_probabilities(np.zeros((0, len(FEATURE_NAMES)))).shape == (0, 3)

    def test_other_shapes_are_refused(self, version_dir):
        model = OnnxPlanktonModel.load(version_dir, VERSION)
        with pytest.raises(InvalidParameter, match=rf"shape \(2, 3\); expected \(n, {len(FEATURE_NAMES)}\)"):
            model.class_probabilities(np.zeros((2, 3)))

    def test_rows_through_the_domain_with_the_unclear_rule(self, version_dir, forest_and_rows):
        forest, rows = forest_and_rows
        model = OnnxPlanktonModel.load(version_dir, VERSION)
        found = classify_feature_rows(rows.tolist(), FEATURE_NAMES, FEATURE_SET_VERSION, model)
        expected = forest.predict_proba(rows)
        top = expected.max(axis=1)
        assert [p.category for p in found] == [
            UNCLEAR if t < 0.55 else CLASSES[i] for t, i in zip(top, expected.argmax(axis=1), strict=True)
        ]
        assert list(found[0].scores) == list(CLASSES)

    @pytest.mark.parametrize(
        ("names", "version", "named"),
        [
            (
                list(reversed(FEATURE_NAMES)),
                FEATURE_SET_VERSION,
                "the same names in another order: position 0",
            ),
            (list(FEATURE_NAMES[1:]), FEATURE_SET_VERSION, "missing area"),
            (list(FEATURE_NAMES), "3", "feature_set_version is '3', the model's is '2'"),
        ],
    )
    def test_a_contract_mismatch_is_refused(self, version_dir, forest_and_rows, names, version, named):
        _, rows = forest_and_rows
        model = OnnxPlanktonModel.load(version_dir, VERSION)
        with pytest.raises(FeatureMismatch, match=named):
            classify_feature_rows(rows[:, : len(names)].tolist(), names, version, model)


class TestUnloadable:
    def test_missing_files(self, tmp_path):
        with pytest.raises(UnloadableModel, match="cannot be read"):
            OnnxPlanktonModel.load(tmp_path, VERSION)

    def test_bytes_that_are_not_onnx(self, version_dir):
        (version_dir / MODEL_FILE).write_bytes(b"\x80\x04pickle, not a model")
        with pytest.raises(UnloadableModel, match="not a loadable ONNX model"):
            OnnxPlanktonModel.load(version_dir, VERSION)

    @pytest.mark.parametrize(
        ("changes", "named"),
        [
            ({"unclear_threshold": None}, "no numeric unclear_threshold"),
            ({"unclear_threshold": 1.5}, "unclear_threshold=1.5"),
            ({"feature_set_version": ""}, "no feature_set_version"),
            ({"classes": ["a", "a", "b"]}, "repeats a name in classes"),
            ({"classes": ["long", "round", "fluffy"]}, "card's classes"),
            ({"feature_names": list(reversed(FEATURE_NAMES))}, "card's feature_names"),
            ({"feature_names": ["area"]}, "the card names 1"),
            ({"feature_set_version": "3"}, "card's feature_set_version"),
        ],
    )
    def test_a_card_that_disagrees_with_the_model(self, version_dir, changes, named):
        _edit_card(version_dir, **changes)
        with pytest.raises(UnloadableModel, match=named):
            OnnxPlanktonModel.load(version_dir, VERSION)
