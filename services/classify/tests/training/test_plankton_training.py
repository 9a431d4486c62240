"""Training smoke test: a tiny generated set of crops, a real small forest, its ONNX export and card.

The tiny set holds what a public set holds: a near-duplicate (a crop re-saved as JPEG) and
files that cannot be used (not an image; a blank crop).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")

from specimen_classify.adapters.datasets import generate_calibration, generate_plankton, generate_vignettes
from specimen_classify.adapters.forest_runtime import OnnxPlanktonModel
from specimen_classify.cli import main
from specimen_classify.domain.plankton.classify import classify_frame
from specimen_classify.domain.plankton.unclear import UNCLEAR_RULE
from specimen_classify.domain.predictions import PLANKTON_MODEL, UNCLEAR, ModelVersion
from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame
from specimen_classify.training import plankton as plankton_training
from specimen_classify.training.plankton import ExportMismatch, class_folders, train_plankton
from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SET_VERSION

DUPLICATE = "single_cells/copy.jpg"


def _original(objects: Path) -> str:
    """The first single-cell crop of the first frame (its object id depends on the draw)."""
    first = sorted((objects / "single_cells").glob("frame00000_*.png"))[0]
    return f"single_cells/{first.name}"


def _tiny_set(root: Path) -> Path:
    generate_plankton(root, frames=3, seed=5, per_category=6, height=384, width=384,
                      vignettes_per_category=12)
    objects = root / "objects"
    crop = cv2.imread(str(objects / _original(objects)), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(objects / DUPLICATE), crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    (objects / "fecal_aggregates" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not the rest of a PNG")
    cv2.imwrite(str(objects / "ovoid_fecal_pellets" / "blank.png"), np.full((20, 20), 215, np.uint8))
    return objects


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_set(tmp_path_factory.mktemp("plankton-data"))


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("plankton-model")
    card = train_plankton(data_dir, out, seed=0, n_estimators=10, progress=False)
    return out, card


class TestTrainPlankton:
    def test_writes_the_artifact_card_plots_and_split(self, trained: tuple[Path, dict[str, Any]]) -> None:
        out, card = trained

        assert sorted(p.name for p in out.iterdir()) == [
            "card.json",
            "confusion_matrix.png",
            "confusion_matrix_unclear.png",
            "model.onnx",
            "split.csv",
        ]
        assert json.loads((out / "card.json").read_text()) == json.loads(json.dumps(card))
        for png in ("confusion_matrix.png", "confusion_matrix_unclear.png"):
            assert (out / png).read_bytes().startswith(b"\x89PNG")
        assert card["export"]["bytes"] == (out / "model.onnx").stat().st_size

    def test_card_records_classes_features_split_forest_and_libraries(
        self, trained: tuple[Path, dict[str, Any]]
    ) -> None:
        _, card = trained

        assert card["name"] == PLANKTON_MODEL and card["classes"] == list(CATEGORIES)
        assert card["feature_names"] == list(FEATURE_NAMES)
        assert card["feature_set_version"] == FEATURE_SET_VERSION
        assert card["features"]["segmentation"]["polarity"] == "dark-on-light"
        # 18 frame crops (19 single cells) and 12 vignettes per class.
        assert card["data"]["counts"] == {category: 30 for category in CATEGORIES} | {"single cells": 31}
        assert sum(part["total"] for part in card["split"]["counts"].values()) == 151
        assert card["split"]["seed"] == 0 and card["split"]["fractions"] == [0.7, 0.15, 0.15]
        assert card["split"]["dedup"]["images_in_multi_image_groups"] >= 2
        assert card["forest"]["params"] == {
            "n_estimators": 10,
            "min_samples_leaf": 2,
            "max_depth": None,
            "max_features": "sqrt",
            "class_weight": "balanced",
            "random_state": 0,
        }
        assert set(card["libraries"]) == set(plankton_training.LIBRARIES) and all(card["libraries"].values())
        assert card["unclear_threshold_rule"] == UNCLEAR_RULE
        assert 0.5 <= card["unclear_threshold"] <= 1.0

    def test_metrics_with_and_without_the_unclear_rule(self, trained: tuple[Path, dict[str, Any]]) -> None:
        _, card = trained
        test, unclear = card["metrics"]["test"], card["metrics"]["test_with_unclear"]
        samples = card["split"]["counts"]["test"]["total"]

        assert test["samples"] == samples and set(test["per_class"]) == set(CATEGORIES)
        assert test["confusion_matrix"]["labels"] == list(CATEGORIES)
        assert unclear["threshold"] == card["unclear_threshold"]
        assert unclear["all"]["confusion_matrix"]["labels"] == [*CATEGORIES, UNCLEAR]
        assert unclear["unclear"] == sum(row[-1] for row in unclear["all"]["confusion_matrix"]["matrix"])
        assert unclear["coverage"] == (samples - unclear["unclear"]) / samples
        assert unclear["all"]["balanced_accuracy"] <= test["balanced_accuracy"]

    def test_onnx_equals_sklearn_and_serves_frames(self, trained: tuple[Path, dict[str, Any]]) -> None:
        out, card = trained
        assert 0.0 <= card["export"]["max_abs_diff_vs_sklearn"] <= 1e-5

        model = OnnxPlanktonModel.load(out, ModelVersion(PLANKTON_MODEL, 1))
        frame = plankton_frame(11, {"single cells": 2, "cylindrical fecal pellets": 2}, 160, 160)
        found = classify_frame(frame.image, model)

        assert model.unclear_threshold == card["unclear_threshold"]
        assert len(found) == 4
        assert all(o.category in (*CATEGORIES, UNCLEAR) and set(o.scores) == set(CATEGORIES) for o in found)

    def test_a_near_duplicate_lands_in_the_split_of_its_original(
        self, data_dir: Path, trained: tuple[Path, dict[str, Any]]
    ) -> None:
        out, _ = trained
        original = _original(data_dir)
        with (out / "split.csv").open() as handle:
            rows = {row["file"]: row for row in csv.DictReader(handle)}

        assert rows[DUPLICATE]["group"] == rows[original]["group"]
        assert rows[DUPLICATE]["split"] == rows[original]["split"]
        splits_of_group: dict[str, set[str]] = {}
        for row in rows.values():
            splits_of_group.setdefault(row["group"], set()).add(row["split"])
        assert all(len(splits) == 1 for splits in splits_of_group.values())

    def test_unreadable_and_blank_crops_are_skipped_and_counted(
        self, trained: tuple[Path, dict[str, Any]]
    ) -> None:
        _, card = trained
        skipped = card["data"]["skipped"]

        assert skipped["count"] == 2
        assert [entry["file"] for entry in skipped["files"]] == [
            "fecal_aggregates/broken.png",
            "ovoid_fecal_pellets/blank.png",
        ]
        assert "cannot be thresholded" in skipped["files"][1]["reason"]

    def test_an_export_that_differs_from_sklearn_is_refused(
        self, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # No export is bitwise equal to a tolerance of -1: the check must fire, before any file.
        monkeypatch.setattr(plankton_training, "MAX_EXPORT_DIFF", -1.0)

        with pytest.raises(ExportMismatch, match="ONNX Runtime differs from scikit-learn"):
            train_plankton(data_dir, tmp_path / "out", n_estimators=2, progress=False)
        assert not (tmp_path / "out").exists()


class TestCalibrationCrops:
    def test_the_threshold_is_chosen_with_the_calibration_crops_and_they_are_scored_apart(
        self, data_dir: Path, tmp_path: Path
    ) -> None:
        calibration = tmp_path / "calibration"
        written = generate_calibration(calibration, frames=1, seed=5)
        card = train_plankton(data_dir, tmp_path / "out", seed=0, n_estimators=10, progress=False,
                              calibration_dir=calibration)

        chosen = card["unclear_threshold_validation"]
        assert chosen["chosen_on"] == "validation split and calibration crops"
        scored = card["metrics"]["calibration"]
        assert scored["crops"] + scored["skipped"] == written == 25
        assert scored["with_unclear"]["threshold"] == card["unclear_threshold"]
        assert set(scored["most_probable"]["per_class"]) == set(CATEGORIES)

    def test_calibration_crops_of_other_classes_are_refused(self, data_dir: Path, tmp_path: Path) -> None:
        calibration = tmp_path / "calibration"
        generate_vignettes(calibration, 1, 5)
        (calibration / "diatoms").mkdir()
        diatom = np.full((60, 60), 215, np.uint8)
        cv2.ellipse(diatom, (30, 30), (20, 6), 0, 0, 360, 60, -1)
        cv2.imwrite(str(calibration / "diatoms" / "one.png"), diatom)

        with pytest.raises(ValueError, match="calibration crops' classes"):
            train_plankton(data_dir, tmp_path / "out", n_estimators=2, progress=False,
                           calibration_dir=calibration)


class TestClassFolders:
    def test_generator_folders_in_category_order_then_other_folders(self, tmp_path: Path) -> None:
        for name in ("zooplankton", "single_cells", "detritus", "fecal_aggregates", ".cache"):
            (tmp_path / name).mkdir()

        assert class_folders(tmp_path) == {
            "fecal_aggregates": "fecal aggregates",
            "single_cells": "single cells",
            "detritus": "detritus",
            "zooplankton": "zooplankton",
        }

    def test_an_unclear_folder_and_a_single_class_are_refused(self, tmp_path: Path) -> None:
        (tmp_path / "single_cells").mkdir()
        with pytest.raises(ValueError, match="at least two"):
            class_folders(tmp_path)
        (tmp_path / "unclear").mkdir()
        with pytest.raises(ValueError, match="'unclear' is the answer for low confidence"):
            class_folders(tmp_path)


class TestTrainCommand:
    def test_a_data_folder_without_class_folders_is_a_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["train", "plankton", str(tmp_path), "--out", str(tmp_path / "model"), "--quiet"])

        assert exited.value.code == 2
        assert "a classifier needs at least two" in capsys.readouterr().err
