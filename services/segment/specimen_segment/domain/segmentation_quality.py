"""Quality of a segmentation against known regions: boundary recall, undersegmentation error."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_kit.errors import InvalidParameter
from specimen_segment.domain.superpixels import label_boundaries


def _pair(truth: Any, labels: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    t, s = np.asarray(truth), np.asarray(labels)
    if t.ndim != 2 or t.shape != s.shape or t.dtype.kind not in "ui" or s.dtype.kind not in "ui":
        raise InvalidParameter(
            f"truth {t.dtype}{t.shape} and labels {s.dtype}{s.shape} must be integer (h, w) arrays alike"
        )
    if (t.size and t.min() < 0) or (s.size and s.min() < 0):
        raise InvalidParameter("truth and labels must be >= 0; relabel -1 (masked) pixels first")
    return t.astype(np.int64), s.astype(np.int64)


def boundary_recall(truth: npt.NDArray[Any], labels: npt.NDArray[Any], tolerance: int = 2) -> float:
    """Fraction of true boundary pixels within ``tolerance`` pixels of a predicted boundary.

    Boundaries are the pixels whose right or lower neighbour has another label; the
    tolerance is a Euclidean disc. 1.0 is perfect.

    Examples
    --------
    >>> t = np.array([[0, 0, 1, 1]] * 2)
    >>> boundary_recall(t, t), boundary_recall(t, np.zeros_like(t))
    (1.0, 0.0)
    """
    t, s = _pair(truth, labels)
    gt = label_boundaries(t)
    if not gt.any():
        return 1.0
    pred: npt.NDArray[Any] = label_boundaries(s).astype(np.uint8)
    if tolerance > 0:
        pred = cv2.dilate(pred, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1,) * 2))
    return float((pred[gt] > 0).mean())


def undersegmentation_error(truth: npt.NDArray[Any], labels: npt.NDArray[Any]) -> float:
    """Undersegmentation error of Neubert & Protzel (2012), in [0, 1]; 0 is perfect.

    ``UE = 1/N Σ_truth Σ_{superpixel ∩ truth ≠ ∅} min(|s ∩ t|, |s \\ t|)``: every superpixel
    that straddles a true region pays for its smaller part.

    Examples
    --------
    >>> t = np.array([[0, 0, 1, 1]])
    >>> undersegmentation_error(t, t), undersegmentation_error(t, np.zeros_like(t))
    (0.0, 1.0)
    """
    t, s = _pair(truth, labels)
    nt, ns = int(t.max()) + 1, int(s.max()) + 1
    table = np.bincount((t * ns + s).ravel(), minlength=nt * ns).reshape(nt, ns)
    sizes = table.sum(axis=0)
    overlap = table > 0
    return float(np.minimum(table, sizes[None, :] - table)[overlap].sum() / t.size)
