"""Classification metrics for the model cards, in plain numpy (the same numbers as scikit-learn's).

Both trainers (the MRI CNN and the plankton forest) report through these functions, so a card
means the same thing whichever model it describes, and serving code can read the metrics
without scikit-learn installed.

Zero-division convention (scikit-learn's ``zero_division=0.0``): a class never predicted has
precision 0.0, a class absent from ``y_true`` has recall 0.0, and F1 is 0.0 when precision and
recall are both 0.0. Balanced accuracy averages recall over the classes present in ``y_true``
only (scikit-learn's definition); macro F1 averages over every label asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Label = str | int


def _as_1d(name: str, values: Sequence[Any] | npt.NDArray[Any]) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _plain(label: Any) -> Label:
    """A JSON-ready Python scalar for a label that may be a numpy scalar."""
    value = label.item() if isinstance(label, np.generic) else label
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"labels must be strings or integers, got {label!r}")
    return value


def _ratio(
    numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def confusion_matrix(
    y_true: Sequence[Any] | npt.NDArray[Any],
    y_pred: Sequence[Any] | npt.NDArray[Any],
    labels: Sequence[Any],
) -> npt.NDArray[np.int64]:
    """Count every (true, predicted) pair: rows are true labels, columns predicted, in ``labels`` order.

    Parameters
    ----------
    y_true, y_pred : sequence or 1-D ndarray, same length
        Labels, each one of ``labels``.
    labels : sequence of str or int
        Distinct labels, in the order of the matrix's rows and columns.

    Returns
    -------
    ndarray of int64, shape (len(labels), len(labels))

    Raises
    ------
    ValueError
        Lengths differ, inputs are empty, ``labels`` repeats a label, or a value is not one of
        ``labels`` (the message names it).

    Examples
    --------
    >>> confusion_matrix(["a", "b", "b"], ["a", "a", "b"], labels=["a", "b"]).tolist()
    [[1, 0], [1, 1]]
    """
    true = _as_1d("y_true", y_true)
    pred = _as_1d("y_pred", y_pred)
    if true.shape != pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {true.size} and {pred.size}")
    if true.size == 0:
        raise ValueError("y_true and y_pred are empty; metrics need at least one sample")
    names = [_plain(label) for label in labels]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"labels must be a non-empty list of distinct labels, got {names!r}")
    index = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(names), len(names)), np.int64)
    for name, values in (("y_true", true), ("y_pred", pred)):
        unknown = sorted({str(_plain(v)) for v in np.unique(values)} - {str(n) for n in names})
        if unknown:
            raise ValueError(f"{name} holds labels not in labels={names!r}: {unknown}")
    rows = np.fromiter((index[_plain(v)] for v in true), np.int64, true.size)
    cols = np.fromiter((index[_plain(v)] for v in pred), np.int64, pred.size)
    np.add.at(matrix, (rows, cols), 1)
    return matrix


def classification_report(
    y_true: Sequence[Any] | npt.NDArray[Any],
    y_pred: Sequence[Any] | npt.NDArray[Any],
    labels: Sequence[Any],
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro F1, per-class scores and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : sequence or 1-D ndarray, same length
        True and predicted labels, each one of ``labels``.
    labels : sequence of str or int
        Every class of the model, in the order the report lists them.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy`` (mean recall over classes present in ``y_true``),
        ``f1_macro`` (mean F1 over ``labels``), ``samples``, ``per_class`` (``str(label)`` →
        ``precision``, ``recall``, ``f1``, ``support``) and ``confusion_matrix``
        (``{"labels": [...], "matrix": [[...]]}``, rows true, columns predicted). Plain Python
        types only, ready for JSON. Undefined ratios are 0.0 (see the module docstring).

    Raises
    ------
    ValueError
        As :func:`confusion_matrix`.

    Examples
    --------
    >>> report = classification_report([0, 0, 1, 1], [0, 1, 1, 1], labels=[0, 1])
    >>> report["accuracy"], report["balanced_accuracy"], report["per_class"]["1"]["precision"]
    (0.75, 0.75, 0.6666666666666666)
    """
    matrix = confusion_matrix(y_true, y_pred, labels)
    names = [_plain(label) for label in labels]
    hits = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    precision = _ratio(hits, predicted)
    recall = _ratio(hits, support)
    f1 = _ratio(2.0 * precision * recall, precision + recall)
    present = support > 0
    return {
        "samples": int(matrix.sum()),
        "accuracy": float(hits.sum() / matrix.sum()),
        "balanced_accuracy": float(recall[present].mean()),
        "f1_macro": float(f1.mean()),
        "per_class": {
            str(name): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(names)
        },
        "confusion_matrix": {"labels": names, "matrix": matrix.tolist()},
    }


def roc_curve(
    y_true: Sequence[bool] | npt.NDArray[np.bool_],
    scores: Sequence[float] | npt.NDArray[np.floating[Any]],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Receiver operating characteristic: one point per distinct score, from (0, 0) to (1, 1).

    Sample ``i`` is called positive at threshold ``t`` when ``scores[i] >= t``. Every distinct
    score is a threshold (no intermediate point is dropped), preceded by ``inf`` (nothing
    positive). With no positive sample the true-positive rate is 0.0 throughout; with no
    negative sample the false-positive rate is.

    Parameters
    ----------
    y_true : sequence or 1-D ndarray of bool
        Whether each sample belongs to the positive class.
    scores : sequence or 1-D ndarray of float
        Higher means more likely positive (e.g. the tumor probability). Must be finite.

    Returns
    -------
    fpr, tpr, thresholds : ndarray of float64, same length
        ``fpr`` and ``tpr`` non-decreasing; ``thresholds`` strictly decreasing, ``inf`` first.

    Raises
    ------
    ValueError
        Lengths differ, inputs are empty, ``y_true`` is not boolean, or a score is not finite.

    Examples
    --------
    >>> fpr, tpr, thresholds = roc_curve([False, False, True, True], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist(), thresholds.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0], [inf, 0.8, 0.4, 0.35, 0.1])
    """
    truth = _as_1d("y_true", y_true)
    score = _as_1d("scores", scores)
    if truth.dtype != np.bool_:
        raise ValueError(f"y_true must be boolean (True = positive), got dtype {truth.dtype}")
    if truth.shape != score.shape:
        raise ValueError(f"y_true and scores differ in length: {truth.size} and {score.size}")
    if truth.size == 0:
        raise ValueError("y_true and scores are empty; a ROC curve needs at least one sample")
    score = score.astype(np.float64)
    if not np.isfinite(score).all():
        raise ValueError("scores must be finite; found NaN or infinity")
    order = np.argsort(-score, kind="stable")
    sorted_scores, sorted_truth = score[order], truth[order]
    # The last index of each run of equal scores: all of a tie flips at one threshold.
    last = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    true_positives = np.cumsum(sorted_truth)[last].astype(np.float64)
    false_positives = (last + 1 - true_positives).astype(np.float64)
    positives, negatives = float(truth.sum()), float(truth.size - truth.sum())
    tpr = np.r_[0.0, true_positives / positives if positives else np.zeros_like(true_positives)]
    fpr = np.r_[0.0, false_positives / negatives if negatives else np.zeros_like(false_positives)]
    thresholds = np.r_[np.inf, sorted_scores[last]]
    return fpr, tpr, thresholds


def auc(x: Sequence[float] | npt.NDArray[Any], y: Sequence[float] | npt.NDArray[Any]) -> float:
    """Area under a curve by the trapezoidal rule, e.g. ``auc(fpr, tpr)`` for the ROC AUC.

    Parameters
    ----------
    x : sequence or 1-D ndarray of float
        Monotonic (non-decreasing or non-increasing) abscissae, at least two.
    y : sequence or 1-D ndarray of float, same length

    Raises
    ------
    ValueError
        Fewer than two points, lengths differ, or ``x`` is not monotonic.

    Examples
    --------
    >>> auc([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    0.75
    """
    xs = _as_1d("x", x).astype(np.float64)
    ys = _as_1d("y", y).astype(np.float64)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in length: {xs.size} and {ys.size}")
    if xs.size < 2:
        raise ValueError(f"an area needs at least two points, got {xs.size}")
    steps = np.diff(xs)
    if (steps < 0).any() and (steps > 0).any():
        raise ValueError("x must be monotonic (sorted up or down) for the trapezoidal rule")
    area = float(np.trapezoid(ys, xs))
    return abs(area)


def balanced_threshold(
    y_true: Sequence[bool] | npt.NDArray[np.bool_],
    scores: Sequence[float] | npt.NDArray[np.floating[Any]],
    *,
    default: float = 0.5,
    bounds: tuple[float, float] = (0.05, 0.95),
) -> float:
    """The decision threshold with the best balanced accuracy, staying at ``default`` unless beaten.

    Candidates are ``default`` and the midpoints between consecutive distinct scores, within
    ``bounds`` (a threshold at the edge of the score range rests on one or two samples). A
    sample is called positive when ``score >= threshold``. Ties go to the candidate nearest to
    ``default``, so a threshold moves only when the scores say it should.

    Parameters
    ----------
    y_true : sequence or 1-D ndarray of bool
        Whether each sample is positive; both classes must be present.
    scores : sequence or 1-D ndarray of float
        Probability of the positive class.
    default : float
        The threshold kept on ties (0.5 for a probability).
    bounds : tuple of float
        Smallest and largest threshold considered.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        As :func:`roc_curve`, or one class is missing.

    Examples
    --------
    >>> balanced_threshold([False, False, True, True], [0.1, 0.3, 0.4, 0.9])
    0.35
    >>> balanced_threshold([False, True], [0.2, 0.8])
    0.5
    """
    _, _, thresholds = roc_curve(y_true, scores)
    truth = np.asarray(y_true)
    if truth.all() or not truth.any():
        raise ValueError("choosing a threshold needs samples of both classes")
    finite = thresholds[1:]
    midpoints = (finite[:-1] + finite[1:]) / 2.0
    candidates = np.unique(np.r_[default, midpoints])
    low, high = bounds
    candidates = candidates[(candidates >= low) & (candidates <= high)]
    score = np.asarray(scores, dtype=np.float64)
    positives, negatives = truth.sum(), (~truth).sum()
    called = score[np.newaxis, :] >= candidates[:, np.newaxis]
    recall = (called & truth).sum(axis=1) / positives
    specificity = (~called & ~truth).sum(axis=1) / negatives
    balanced = (recall + specificity) / 2.0
    best = np.flatnonzero(np.isclose(balanced, balanced.max(), rtol=0.0, atol=1e-12))
    return float(candidates[best[np.argmin(np.abs(candidates[best] - default))]])
