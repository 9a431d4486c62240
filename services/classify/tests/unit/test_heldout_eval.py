"""The held-out evaluation's scoring rules (bench/heldout_eval.py): what counts as answered, and
the figures it prints, on hand-made answers."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from specimen_classify.domain.errors import NoBrainFound
from specimen_classify.domain.predictions import ModelVersion, MriScores, TrainingData

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "bench"))
from heldout_eval import _answer_of, classify_mri_bytes, ood_images, ranking, summary


@dataclass(frozen=True)
class Answer:
    label: str
    probability: float
    out_of_distribution: bool = False


def test_only_a_confident_label_counts_as_answered() -> None:
    assert _answer_of(Answer("tumor", 0.9))[0] == "tumor"
    assert _answer_of(Answer("healthy", 0.7))[0] == "healthy"
    assert _answer_of(Answer("uncertain", 0.55)) == (None, 0.55, "abstained (uncertain)")
    assert _answer_of(Answer("tumor", 0.99, out_of_distribution=True))[0] is None
    assert _answer_of(NoBrainFound("no head")) == (None, None, "problem no-brain-found")


def test_summary_counts_abstentions_against_accuracy_and_coverage() -> None:
    truth = ["tumor", "tumor", "healthy", "healthy"]
    report = summary(truth, ["tumor", None, "tumor", "healthy"], ["tumor", "healthy"])
    assert report["coverage"] == pytest.approx(0.75)
    assert report["accuracy_all"] == pytest.approx(0.5)
    assert report["accuracy_answered"] == pytest.approx(2 / 3)
    assert report["recall_answered"] == {"tumor": 1.0, "healthy": 0.5}
    assert report["balanced_accuracy_answered"] == pytest.approx(0.75)
    assert report["coverage_by_class"] == {"tumor": 0.5, "healthy": 1.0}


def test_ranking_is_threshold_free_and_skips_slices_without_a_probability() -> None:
    truth = ["tumor", "tumor", "healthy", "healthy", "tumor"]
    # One tumor (0.3) ranks below a healthy slice (0.4): 3 of 4 tumor/healthy pairs in order, and
    # every threshold misses that tumor or calls that healthy slice tumor. The abstention (None)
    # is not scored.
    report = ranking(truth, [0.9, 0.3, 0.4, 0.1, None])
    assert report["scored"] == 4
    assert report["auc"] == pytest.approx(0.75)
    assert report["best_balanced_accuracy_any_threshold"] == pytest.approx(0.75)
    assert ranking(truth, [0.9, 0.8, 0.2, 0.1, 0.7])["best_balanced_accuracy_any_threshold"] == 1.0
    assert ranking(["tumor", "tumor"], [0.9, 0.1])["auc"] is None  # one class: nothing to rank


class ConstantModel:
    """A real MriModel: every crop is a tumor with probability 0.9; no feature statistics."""

    version = ModelVersion("mri-tumor", 1)
    decision_threshold = 0.5
    input_size = 32
    ood_threshold = None
    training_data = TrainingData("unknown", "a constant, for tests")

    def score(self, inputs: np.ndarray) -> MriScores:
        return MriScores(tumor_probability=np.full(inputs.shape[0], 0.9), ood_score=None)


def test_ood_photographs_go_the_served_way_and_an_empty_file_is_a_problem() -> None:
    images = ood_images()
    assert len(images) >= 8
    empty = b""  # the decoder's problem for this item, not a crash of the batch
    slice_ = np.zeros((96, 96), np.uint8)
    slice_[16:80, 20:76] = 120 + (np.indices((64, 56)).sum(axis=0) % 60).astype(np.uint8)
    png = cv2.imencode(".png", slice_)[1].tobytes()
    results = classify_mri_bytes([images[0][1], empty, png], ConstantModel())
    # A colour photograph is stopped by the served image checks even though the network would say
    # tumor 0.9; a gray head on a dark background goes through to the constant answer.
    assert _answer_of(results[0]) == (None, None, "abstained (uncertain)")
    assert _answer_of(results[1])[0] is None
    assert _answer_of(results[2])[0] == "tumor"
