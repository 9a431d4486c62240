"""The held-out evaluation's scoring rules (bench/heldout_eval.py): what counts as answered, and
the figures it prints, on hand-made answers."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from specimen_classify.domain.errors import NoBrainFound
from specimen_classify.domain.predictions import ModelVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "bench"))
from heldout_eval import _answer_of, classify_mri_bytes, ood_images, summary


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


class ConstantModel:
    """A real MriModel: every crop is a tumor with probability 0.9."""

    version = ModelVersion("mri-tumor", 1)
    decision_threshold = 0.5

    def tumor_probabilities(self, inputs: np.ndarray) -> np.ndarray:
        return np.full(inputs.shape[0], 0.9)


def test_ood_photographs_go_the_served_way_and_an_empty_file_is_a_problem() -> None:
    images = ood_images()
    assert len(images) >= 8
    empty = b""  # the decoder's problem for this item, not a crash of the batch
    results = classify_mri_bytes([images[0][1], empty], ConstantModel())
    assert _answer_of(results[0])[0] == "tumor"
    assert _answer_of(results[1])[0] is None
