"""Model cards and their plots, shared by the trainers.

A card is one JSON document beside the artifact (``card.json``) saying what the model is, what
data and split it was trained and tested on, how well it did (metrics from
:mod:`specimen_classify.domain.evaluation`), and with which library versions. The plots are
PNG files drawn with matplotlib's object API on the Agg canvas: no display, no pyplot global
state, so trainers can run in worker threads.
"""

from __future__ import annotations

import csv
import importlib
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from specimen_classify.adapters.model_store import CARD_FILE, write_json_atomically


def library_versions(*names: str) -> dict[str, str | None]:
    """Installed version of each distribution (``"opencv-contrib-python-headless"``, ``"numpy"``…).

    A name that is no installed distribution is tried as an importable module with a
    ``__version__``; ``None`` when neither is found.

    Examples
    --------
    >>> library_versions("numpy")["numpy"] == np.__version__
    True
    """
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            try:
                module = importlib.import_module(name)
            except ImportError:
                versions[name] = None
            else:
                found = getattr(module, "__version__", None)
                versions[name] = str(found) if found is not None else None
    return versions


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in a model card: {value!r}")


def write_card(out_dir: Path, card: dict[str, Any]) -> Path:
    """Write ``card`` to ``out_dir/card.json`` (indented, sorted keys), replacing it atomically.

    numpy scalars and arrays and paths are converted; NaN and infinity are refused (not JSON).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    TypeError
        A value of another type.
    ValueError
        A NaN or infinite number.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CARD_FILE
    write_json_atomically(path, card, default=_json_default)
    return path


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=100)
    return path


def plot_confusion_matrix(report_cm: dict[str, Any], path: Path, title: str = "Confusion matrix") -> Path:
    """Draw a card's confusion matrix (rows true, columns predicted) as a PNG with counts.

    Parameters
    ----------
    report_cm : dict
        ``{"labels": [...], "matrix": [[...]]}`` as in
        :func:`~specimen_classify.domain.evaluation.classification_report`.
    path : Path
        The PNG to write.
    title : str

    Returns
    -------
    Path
    """
    labels = [str(label) for label in report_cm["labels"]]
    matrix = np.asarray(report_cm["matrix"], dtype=np.int64)
    if matrix.shape != (len(labels), len(labels)):
        expected = (len(labels), len(labels))
        raise ValueError(f"the matrix has shape {matrix.shape}, not {expected} for labels {labels}")
    side = 2.5 + 0.9 * len(labels)
    figure = Figure(figsize=(side + 1.0, side), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, shrink=0.8)
    ticks = np.arange(len(labels))
    axes.set_xticks(ticks, labels, rotation=30, ha="right")
    axes.set_yticks(ticks, labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    limit = matrix.max() / 2.0 if matrix.size else 0.0
    for (row, col), count in np.ndenumerate(matrix):
        axes.text(col, row, str(count), ha="center", va="center",
                  color="white" if count > limit else "black")
    return _save(figure, path)


def plot_roc(
    fpr: Sequence[float] | npt.NDArray[np.float64],
    tpr: Sequence[float] | npt.NDArray[np.float64],
    auc: float,
    path: Path,
    title: str = "ROC",
) -> Path:
    """Draw a ROC curve with its AUC and the chance diagonal as a PNG.

    Returns
    -------
    Path
    """
    figure = Figure(figsize=(4.5, 4.5), layout="constrained")
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="0.6", label="chance")
    axes.plot(np.asarray(fpr), np.asarray(tpr), drawstyle="default", label=f"AUC = {auc:.4f}")
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(-0.01, 1.01)
    axes.set_aspect("equal")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title(title)
    axes.legend(loc="lower right")
    return _save(figure, path)


class ExportMismatch(RuntimeError):
    """The exported artifact does not answer like the trained model within the trainer's bound."""


def split_counts(targets: npt.NDArray[np.int64], classes: Sequence[str],
                 parts: dict[str, npt.NDArray[np.int64]]) -> dict[str, Any]:
    """Split name → its size and the count of each class (for the card)."""
    return {name: {"total": int(idx.size),
                   **{label: int((targets[idx] == i).sum()) for i, label in enumerate(classes)}}
            for name, idx in parts.items()}


def write_split(path: Path, files: Sequence[str], labels: Sequence[str], groups: npt.NDArray[np.int64],
                parts: dict[str, npt.NDArray[np.int64]]) -> None:
    """``split.csv``: every file with its label, near-duplicate group and split."""
    split_of = np.empty(len(files), dtype=object)
    for name, idx in parts.items():
        split_of[idx] = name
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("file", "label", "group", "split"))
        for i, name in enumerate(files):
            writer.writerow((name, labels[i], int(groups[i]), split_of[i]))
