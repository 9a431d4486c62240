"""Model-card metrics in plain numpy: exact values on tiny hand-counted cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from specimen_classify.domain.evaluation import (
    auc,
    balanced_threshold,
    classification_report,
    confusion_matrix,
    roc_curve,
)


class TestConfusionMatrix:
    def test_rows_are_true_labels_and_columns_predicted_in_the_given_order(self) -> None:
        matrix = confusion_matrix(["b", "b", "a", "c"], ["b", "a", "a", "b"], labels=["c", "b", "a"])

        assert matrix.tolist() == [[0, 1, 0], [0, 1, 1], [0, 0, 1]]
        assert matrix.dtype == np.int64

    def test_a_label_outside_labels_is_named(self) -> None:
        with pytest.raises(ValueError, match=r"y_pred holds labels not in .*\['tumour'\]"):
            confusion_matrix(["tumor"], ["tumour"], labels=["healthy", "tumor"])

    @pytest.mark.parametrize(("y_true", "y_pred", "labels", "message"), [
        ([0, 1], [0], [0, 1], "differ in length: 2 and 1"),
        ([], [], [0, 1], "empty"),
        ([0], [0], [0, 0], "distinct labels"),
        ([[0]], [[0]], [0], "one-dimensional"),
    ])
    def test_bad_inputs_are_refused(self, y_true: list[object], y_pred: list[object],
                                    labels: list[object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            confusion_matrix(y_true, y_pred, labels)


class TestClassificationReport:
    def test_binary_counts_give_the_hand_computed_scores(self) -> None:
        # 3 healthy (2 right), 5 tumor (4 right): tumor precision 4/5, recall 4/5.
        y_true = ["healthy"] * 3 + ["tumor"] * 5
        y_pred = ["healthy", "healthy", "tumor", "tumor", "tumor", "tumor", "tumor", "healthy"]

        report = classification_report(y_true, y_pred, labels=["healthy", "tumor"])

        assert report["samples"] == 8
        assert report["accuracy"] == 0.75
        assert report["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
        assert report["per_class"]["healthy"] == {
            "precision": 2 / 3, "recall": 2 / 3, "f1": pytest.approx(2 / 3), "support": 3}
        assert report["per_class"]["tumor"] == {
            "precision": 0.8, "recall": 0.8, "f1": pytest.approx(0.8), "support": 5}
        assert report["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)
        assert report["confusion_matrix"] == {"labels": ["healthy", "tumor"], "matrix": [[2, 1], [1, 4]]}

    def test_a_class_never_predicted_has_precision_and_f1_zero(self) -> None:
        report = classification_report([0, 1, 1], [1, 1, 1], labels=[0, 1])

        assert report["per_class"]["0"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
        assert report["balanced_accuracy"] == 0.5

    def test_a_class_absent_from_the_truth_is_left_out_of_balanced_accuracy_only(self) -> None:
        report = classification_report(["a", "a"], ["a", "c"], labels=["a", "b", "c"])

        assert report["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
        assert report["balanced_accuracy"] == 0.5
        assert report["f1_macro"] == pytest.approx((2 / 3 + 0.0 + 0.0) / 3)

    def test_numpy_labels_become_plain_python_values(self) -> None:
        report = classification_report(np.array([1, 2]), np.array([1, 2]), labels=np.array([1, 2]))

        assert report["confusion_matrix"]["labels"] == [1, 2]
        assert type(report["confusion_matrix"]["labels"][0]) is int
        assert report["accuracy"] == 1.0


class TestRocCurve:
    def test_each_distinct_score_is_one_point_from_the_origin_to_one_one(self) -> None:
        fpr, tpr, thresholds = roc_curve(np.array([False, True, False, True]), np.array([0.2, 0.9, 0.6, 0.6]))

        assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0]
        assert tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
        assert thresholds.tolist() == [math.inf, 0.9, 0.6, 0.2]

    def test_perfect_scores_have_area_one_and_reversed_scores_area_zero(self) -> None:
        truth = np.array([False, False, True, True])

        assert auc(*roc_curve(truth, np.array([0.1, 0.2, 0.8, 0.9]))[:2]) == 1.0
        assert auc(*roc_curve(truth, np.array([0.9, 0.8, 0.2, 0.1]))[:2]) == 0.0

    def test_tied_scores_of_both_classes_give_the_chance_diagonal(self) -> None:
        fpr, tpr, _ = roc_curve(np.array([False, True]), np.array([0.5, 0.5]))

        assert (fpr.tolist(), tpr.tolist()) == ([0.0, 1.0], [0.0, 1.0])
        assert auc(fpr, tpr) == 0.5

    def test_without_positives_the_true_positive_rate_is_zero(self) -> None:
        fpr, tpr, _ = roc_curve(np.array([False, False]), np.array([0.3, 0.7]))

        assert tpr.tolist() == [0.0, 0.0, 0.0]
        assert fpr.tolist() == [0.0, 0.5, 1.0]

    @pytest.mark.parametrize(("truth", "scores", "message"), [
        ([0, 1], [0.1, 0.2], "boolean"),
        ([True], [0.1, 0.2], "differ in length"),
        ([True], [float("nan")], "finite"),
    ])
    def test_bad_inputs_are_refused(self, truth: list[object], scores: list[float], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            roc_curve(np.array(truth), np.array(scores))


class TestAuc:
    def test_decreasing_x_gives_the_same_positive_area(self) -> None:
        assert auc([1.0, 0.5, 0.0], [1.0, 1.0, 0.0]) == 0.75

    def test_non_monotonic_x_is_refused(self) -> None:
        with pytest.raises(ValueError, match="monotonic"):
            auc([0.0, 1.0, 0.5], [0.0, 1.0, 1.0])


class TestBalancedThreshold:
    def test_moves_to_the_midpoint_that_separates_the_classes(self) -> None:
        threshold = balanced_threshold(np.array([False, False, True, True]), np.array([0.1, 0.3, 0.4, 0.9]))

        assert threshold == pytest.approx(0.35)

    def test_stays_at_the_default_when_it_is_as_good_as_any(self) -> None:
        assert balanced_threshold(np.array([False, True]), np.array([0.2, 0.8])) == 0.5

    def test_never_leaves_the_bounds(self) -> None:
        # Only a threshold above 0.97 separates these; the bounds cap it at 0.95 or less.
        threshold = balanced_threshold(np.array([False, True]), np.array([0.96, 0.99]), bounds=(0.05, 0.95))

        assert 0.05 <= threshold <= 0.95

    def test_one_class_only_is_refused(self) -> None:
        with pytest.raises(ValueError, match="both classes"):
            balanced_threshold(np.array([True, True]), np.array([0.2, 0.8]))
