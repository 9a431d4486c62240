"""Train the plankton random forest: one folder of crops per class in, ONNX model + model card out.

The data folder has the layout of the public plankton sets: ``DATA_DIR/<class>/*.png`` (any
format :func:`specimen_imaging.codecs.decode_image` reads), one object per crop. A folder named
as the generator names them (``single_cells``,
:data:`~specimen_classify.domain.synthetic_plankton.FOLDER_NAMES`) is that category; any other
folder name is a class of its own (real data). A crop that cannot be read, is blank or holds
no object is skipped with a warning and counted in the card.

Each crop goes through the shared object pipeline (:func:`specimen_imaging.extraction.extract_objects`
with :data:`~specimen_classify.domain.plankton.segmentation.CROP_SEGMENTATION`) and its largest object's
measurements are its feature row: the same definition the segment service answers and the
frame route measures. Near-duplicate crops (pHash, :mod:`specimen_classify.domain.dedup`) are
grouped (:func:`~specimen_classify.domain.plankton.crops.crop_groups`) and each group lands in one
split; the split is stratified by class.

The forest is exported to ONNX with skl2onnx (float32 input, no ZipMap); the validation and
test splits are scored *through the exported model and the serving runtime*
(:class:`~specimen_classify.adapters.forest_runtime.OnnxPlanktonModel`) after checking that its
probabilities equal scikit-learn's within :data:`MAX_EXPORT_DIFF`. The unclear threshold is
chosen on the validation split (:func:`~specimen_classify.domain.plankton.unclear.choose_unclear_threshold`,
rule :data:`~specimen_classify.domain.plankton.unclear.UNCLEAR_RULE`).

Written to ``OUT_DIR``: ``model.onnx``, ``card.json``, ``confusion_matrix.png`` (test split,
most probable class), ``confusion_matrix_unclear.png`` (test split, unclear rule applied) and
``split.csv`` (each crop's class, near-duplicate group and split).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from specimen_classify.adapters.forest_runtime import (
    INPUT_NAME,
    MODEL_FILE,
    PROBABILITIES_OUTPUT,
    OnnxPlanktonModel,
)
from specimen_classify.domain import dedup
from specimen_classify.domain.evaluation import classification_report
from specimen_classify.domain.plankton.crops import CROP_MAX_DISTANCE, crop_features, crop_groups
from specimen_classify.domain.plankton.segmentation import CROP_SEGMENTATION
from specimen_classify.domain.plankton.unclear import (
    MIN_UNCLEAR_THRESHOLD,
    TARGET_PRECISION,
    UNCLEAR_RULE,
    categories_of,
    choose_unclear_threshold,
)
from specimen_classify.domain.predictions import PLANKTON_MODEL, UNCLEAR, ModelVersion
from specimen_classify.domain.synthetic_plankton import CATEGORIES, CATEGORY_OF_FOLDER
from specimen_classify.training.cards import (
    ExportMismatch,
    library_versions,
    plot_confusion_matrix,
    split_counts,
    write_card,
    write_split,
)
from specimen_imaging.codecs import decode_image
from specimen_imaging.measurements import FEATURE_SET_VERSION, feature_names_of
from specimen_kit.errors import Problem
from specimen_kit.timestamps import rfc3339, utc_now

logger = logging.getLogger(__name__)

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
DEFAULT_TREES = 100
"""Trees of the forest: ~0.5 MB of ONNX on a thousand crops, and more trees changed nothing
measurable on generated data (see the card's metrics)."""
DEFAULT_MIN_SAMPLES_LEAF = 2
"""Leaves of at least two crops: a third fewer nodes than fully grown trees, same accuracy."""
MAX_EXPORT_DIFF = 1e-5
"""Largest accepted |ONNX Runtime - scikit-learn| probability on the test split."""
MAX_PIXELS = 40_000_000
"""Largest crop read (pixels)."""
TIMED_CALLS = 50
"""Single-row calls timed for the card's per-object inference cost."""
LIBRARIES = (
    "scikit-learn",
    "skl2onnx",
    "onnxruntime",
    "onnx",
    "numpy",
    "opencv-contrib-python-headless",
    "specimen-imaging",
)


@dataclass(frozen=True)
class PlanktonDataset:
    """The usable crops of a data folder, measured.

    Attributes
    ----------
    classes : tuple of str
        Class names, index = target.
    folders : dict of str to str
        Folder name → class.
    files : list of str
        Paths relative to the data folder, e.g. ``"single_cells/frame00000_0001.png"``.
    features : ndarray of float64, (n, len(FEATURE_NAMES))
    targets : ndarray of int64, (n,)
    hashes : ndarray of uint8, (n, 8)
        pHash of each decoded crop.
    sizes : list of (int, int)
        Height and width of each crop.
    skipped : list of dict
        ``{"file", "reason"}`` of each file left out.
    """

    classes: tuple[str, ...]
    folders: dict[str, str]
    files: list[str]
    features: npt.NDArray[np.float64]
    targets: npt.NDArray[np.int64]
    hashes: npt.NDArray[np.uint8]
    sizes: list[tuple[int, int]]
    skipped: list[dict[str, str]]


def class_folders(data_dir: Path) -> dict[str, str]:
    """Folder name → class name for every class folder of ``data_dir``, in class order.

    The generator's folders come first, in :data:`CATEGORIES` order, under their category names;
    other folders follow in name order, named as they are.

    Raises
    ------
    FileNotFoundError
        ``data_dir`` is not a folder.
    ValueError
        Fewer than two class folders, or a folder that would be called *unclear*.
    """
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"{data_dir} is not a folder; pass a folder with one subfolder of crops per class"
        )
    folders = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    named = {folder: CATEGORY_OF_FOLDER.get(folder, folder) for folder in folders}
    if UNCLEAR in named.values():
        raise ValueError(
            f"{data_dir / UNCLEAR} cannot be a class: {UNCLEAR!r} is the answer for low "
            "confidence; rename or remove that folder"
        )
    if len(named) < 2:
        raise ValueError(f"{data_dir} has {len(named)} class folder(s); a classifier needs at least two")
    rank = {category: i for i, category in enumerate(CATEGORIES)}
    return dict(sorted(named.items(), key=lambda item: (rank.get(item[1], len(rank)), item[1])))


def load_dataset(
    data_dir: Path, *, progress: bool = True, feature_set: str = FEATURE_SET_VERSION
) -> PlanktonDataset:
    """Decode, measure (feature set ``feature_set``) and hash every crop of every class folder.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`class_folders`; also a class left without a usable crop.
    """
    folders = class_folders(data_dir)
    classes = tuple(folders.values())
    candidates = [
        (f"{folder}/{path.name}", classes.index(name))
        for folder, name in folders.items()
        for path in sorted((data_dir / folder).iterdir())
        if path.is_file() and not path.name.startswith(".")
    ]
    files, rows, targets, hashes, sizes, skipped = [], [], [], [], [], []
    for name, target in tqdm(candidates, desc="measuring crops", unit="crop", disable=not progress):
        try:
            pixels = decode_image((data_dir / name).read_bytes(), max_pixels=MAX_PIXELS).pixels
            row = crop_features(pixels, feature_set=feature_set)
            if row is None:
                raise ValueError("no object was found in the crop")
        except (Problem, OSError, ValueError) as error:
            reason = getattr(error, "detail", None) or str(error)
            logger.warning("skipped %s: %s", name, reason, extra={"file": name})
            skipped.append({"file": name, "reason": reason})
            continue
        files.append(name)
        rows.append(row)
        targets.append(target)
        hashes.append(dedup.perceptual_hash(pixels))
        sizes.append((int(pixels.shape[0]), int(pixels.shape[1])))
    target_array = np.asarray(targets, np.int64)
    for index, label in enumerate(classes):
        if not (target_array == index).any():
            raise ValueError(
                f"no usable crop of class {label!r} in {data_dir}; "
                f"{len(skipped)} file(s) were skipped as unreadable, blank or without an object"
            )
    return PlanktonDataset(
        classes,
        folders,
        files,
        np.stack(rows).astype(np.float64),
        target_array,
        np.stack(hashes).astype(np.uint8),
        sizes,
        skipped,
    )


@dataclass(frozen=True)
class _Rows:
    """The measured rows a forest is fitted on."""

    classes: tuple[str, ...]
    files: list[str]
    features: npt.NDArray[np.float64]
    targets: npt.NDArray[np.int64]


def export_onnx(forest: Any, classes: Sequence[str], feature_set: str = FEATURE_SET_VERSION) -> bytes:
    """A fitted forest as ONNX bytes, as :class:`OnnxPlanktonModel` loads them.

    Input ``features`` float32 ``(n, columns of feature_set)``, outputs ``label`` and
    ``probabilities`` (no ZipMap); ``classes``, the feature names and the feature-set version
    stamped into the metadata. ``classes[i]`` names the forest's class ``i`` (targets 0..k-1).
    """
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    if [int(c) for c in forest.classes_] != list(range(len(classes))):
        raise ValueError(
            f"the forest's classes {forest.classes_.tolist()} are not the targets 0..{len(classes) - 1} "
            f"of {list(classes)}"
        )

    names = feature_names_of(feature_set)
    onnx_model = to_onnx(
        forest,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(names)]))],
        options={id(forest): {"zipmap": False}},
    )
    stamped = {
        "classes": list(classes),
        "feature_names": list(names),
        "feature_set_version": feature_set,
    }
    for key, value in stamped.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx_model.doc_string = f"Specimen {PLANKTON_MODEL} random forest"
    data: bytes = onnx_model.SerializeToString()
    return data


def _ms_per_call(predict: Any, row: npt.NDArray[np.float64]) -> float:
    predict(row)
    started = time.perf_counter()
    for _ in range(TIMED_CALLS):
        predict(row)
    return round((time.perf_counter() - started) / TIMED_CALLS * 1000.0, 4)


def _with_unclear(
    truth: Sequence[str], probabilities: npt.NDArray[np.float64], classes: Sequence[str], threshold: float
) -> dict[str, Any]:
    """Scores when low-confidence objects answer *unclear*.

    ``all``: every object, *unclear* counted as a miss (a column of the confusion matrix; the
    recall and balanced accuracy of a class drop with each of its objects left unclear; macro
    F1 averages the real classes only). ``answered``: the objects answered with a category.
    """
    predicted = categories_of(probabilities, classes, threshold)
    everything = classification_report(truth, predicted, [*classes, UNCLEAR])
    everything["per_class"].pop(UNCLEAR)
    everything["f1_macro"] = float(np.mean([everything["per_class"][c]["f1"] for c in classes]))
    answered = [i for i, category in enumerate(predicted) if category != UNCLEAR]
    return {
        "threshold": threshold,
        "coverage": len(answered) / len(predicted),
        "unclear": len(predicted) - len(answered),
        "all": everything,
        "answered": classification_report(
            [truth[i] for i in answered], [predicted[i] for i in answered], classes
        )
        if answered
        else None,
    }


def train_plankton(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    n_estimators: int = DEFAULT_TREES,
    min_samples_leaf: int = DEFAULT_MIN_SAMPLES_LEAF,
    max_depth: int | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    progress: bool = True,
    feature_set: str = FEATURE_SET_VERSION,
    calibration_dir: Path | None = None,
) -> dict[str, Any]:
    """Train, export and evaluate the plankton forest; write the artifact and card to ``out_dir``.

    Parameters
    ----------
    data_dir : Path
        One subfolder of crops per class.
    out_dir : Path
        Created if missing; receives ``model.onnx``, ``card.json``, the two confusion-matrix
        PNGs and ``split.csv``.
    seed : int
        Seeds the split and the forest.
    n_estimators, min_samples_leaf, max_depth
        The forest's size (scikit-learn's meaning); the defaults keep the artifact small.
    fractions : sequence of 3 floats
        Shares of train, validation and test crops, summing to 1.
    progress : bool
        A tqdm bar while measuring crops; nothing when False.
    feature_set : str
        The feature set measured (default the current one; ``"1"`` trains a model of the
        first set, which the service still serves).
    calibration_dir : Path, optional
        Crops laid out as ``data_dir`` (same classes), never trained on, that join the
        validation split to choose the unclear threshold: crops a little unlike the training
        ones (another instrument, or generated with shifted settings such as
        :data:`~specimen_classify.domain.synthetic_plankton.CALIBRATION_VARIETY`), so that the
        threshold holds where the forest meets such crops. Scored apart in the card.

    Returns
    -------
    dict
        The model card, as written to ``card.json``.

    Raises
    ------
    FileNotFoundError
        ``data_dir`` is not a folder.
    ValueError
        Bad arguments, fewer than two classes, a class without usable crops, or too few crops
        for every split.
    ExportMismatch
        ONNX Runtime's probabilities differ from scikit-learn's by more than :data:`MAX_EXPORT_DIFF`.
    """
    if n_estimators < 1 or min_samples_leaf < 1 or (max_depth is not None and max_depth < 1):
        raise ValueError(
            f"n_estimators={n_estimators}, min_samples_leaf={min_samples_leaf} and "
            f"max_depth={max_depth} must be >= 1 (max_depth may be None)"
        )
    if len(fractions) != 3:
        raise ValueError(f"fractions={tuple(fractions)!r} must be three shares: train, validation, test")
    started = time.monotonic()
    data = load_dataset(data_dir, progress=progress, feature_set=feature_set)
    calibration: PlanktonDataset | None = None
    if calibration_dir is not None:
        calibration = load_dataset(calibration_dir, progress=progress, feature_set=feature_set)
        if calibration.classes != data.classes:
            raise ValueError(
                f"the calibration crops' classes {list(calibration.classes)} differ from the training "
                f"crops' {list(data.classes)}; lay {calibration_dir} out with the same class folders"
            )
    groups = crop_groups(data.hashes, data.sizes)
    return fit_forest_version(
        data.features, data.targets, data.classes, groups, data.files, out_dir,
        seed=seed, n_estimators=n_estimators, min_samples_leaf=min_samples_leaf, max_depth=max_depth,
        fractions=fractions, feature_set=feature_set, started=started,
        groups_method=f"{dedup.HASH_METHOD} among crops of the same height and width",
        data_section={
            "path": str(data_dir),
            "layout": "one folder of crops per class",
            "folders": data.folders,
            "counts": {label: int((data.targets == i).sum()) for i, label in enumerate(data.classes)},
            "skipped": {"count": len(data.skipped), "files": data.skipped},
        },
        calibration=calibration,
        calibration_source=None if calibration_dir is None else str(calibration_dir),
    )


def fit_forest_version(
    features: npt.NDArray[np.float64],
    targets: npt.NDArray[np.int64],
    classes: Sequence[str],
    groups: npt.NDArray[np.int64],
    files: Sequence[str],
    out_dir: Path,
    *,
    seed: int = 0,
    n_estimators: int = DEFAULT_TREES,
    min_samples_leaf: int = DEFAULT_MIN_SAMPLES_LEAF,
    max_depth: int | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    feature_set: str = FEATURE_SET_VERSION,
    started: float | None = None,
    groups_method: str,
    data_section: dict[str, Any],
    extra_card: dict[str, Any] | None = None,
    calibration: PlanktonDataset | None = None,
    calibration_source: str | None = None,
) -> dict[str, Any]:
    """Split, fit, export, check and evaluate a forest on measured objects; write the version
    (``model.onnx``, ``card.json``, plots, ``split.csv``) to ``out_dir`` and return the card.

    ``features`` are rows of ``feature_set``'s columns, ``targets`` indices into ``classes``,
    ``groups`` keep related rows in one split (near-duplicate crops, or one frame's objects),
    ``files`` name the rows in ``split.csv``; ``data_section`` is the card's ``data`` and
    ``extra_card`` more card fields (a training from projects: its ``training_data``);
    ``calibration`` crops join the validation split to choose the unclear threshold and are
    scored apart in the card (``calibration_source`` names where they came from). Raises as
    :func:`train_plankton` does.
    """
    if n_estimators < 1 or min_samples_leaf < 1 or (max_depth is not None and max_depth < 1):
        raise ValueError(
            f"n_estimators={n_estimators}, min_samples_leaf={min_samples_leaf} and "
            f"max_depth={max_depth} must be >= 1 (max_depth may be None)"
        )
    feature_names = feature_names_of(feature_set)
    started = time.monotonic() if started is None else started
    measured_at = time.monotonic()
    classes = tuple(classes)
    data = _Rows(classes, list(files), features, targets)
    train_idx, val_idx, test_idx = dedup.split_groups(groups, data.targets, fractions, seed)
    parts = {"train": train_idx, "validation": val_idx, "test": test_idx}
    for name, idx in parts.items():
        if idx.size == 0:
            raise ValueError(
                f"the {name} split is empty: {len(data.files)} usable crops in "
                f"{len(np.unique(groups))} groups are too few for fractions {tuple(fractions)}"
            )

    from sklearn.ensemble import RandomForestClassifier

    forest_params: dict[str, Any] = {
        "n_estimators": n_estimators,
        "min_samples_leaf": min_samples_leaf,
        "max_depth": max_depth,
        "max_features": "sqrt",
        "class_weight": "balanced",
        "random_state": seed,
    }
    forest = RandomForestClassifier(**forest_params, n_jobs=1)
    forest.fit(data.features[train_idx], data.targets[train_idx])
    trained_at = time.monotonic()

    artifact = export_onnx(forest, data.classes, feature_set)
    runtime = OnnxPlanktonModel(
        artifact,
        ModelVersion(PLANKTON_MODEL, 0),
        classes=data.classes,
        feature_names=feature_names,
        feature_set_version=feature_set,
        unclear_threshold=0.0,
    )
    test_p = runtime.class_probabilities(data.features[test_idx])
    export_diff = float(np.max(np.abs(test_p - forest.predict_proba(data.features[test_idx]))))
    if not export_diff <= MAX_EXPORT_DIFF:
        raise ExportMismatch(
            f"ONNX Runtime differs from scikit-learn by {export_diff:.3g} on the test split "
            f"(> {MAX_EXPORT_DIFF}); the export is not faithful"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MODEL_FILE).write_bytes(artifact)
    val_p = runtime.class_probabilities(data.features[val_idx])
    exported_at = time.monotonic()

    if calibration is not None:
        cal_p = runtime.class_probabilities(calibration.features)
        choice = choose_unclear_threshold(
            np.vstack([val_p, cal_p]), np.r_[data.targets[val_idx], calibration.targets]
        )
    else:
        choice = choose_unclear_threshold(val_p, data.targets[val_idx])
    names = np.asarray(data.classes, dtype=object)
    test_truth = [str(c) for c in names[data.targets[test_idx]]]
    val_truth = [str(c) for c in names[data.targets[val_idx]]]
    test_plain = classification_report(
        test_truth, [str(c) for c in names[test_p.argmax(axis=1)]], data.classes
    )
    test_unclear = _with_unclear(test_truth, test_p, data.classes, choice.threshold)
    val_plain = classification_report(val_truth, [str(c) for c in names[val_p.argmax(axis=1)]], data.classes)
    calibration_metrics: dict[str, Any] | None = None
    if calibration is not None:
        cal_truth = [str(c) for c in names[calibration.targets]]
        calibration_metrics = {
            "path": calibration_source,
            "crops": len(calibration.files),
            "skipped": len(calibration.skipped),
            "most_probable": classification_report(
                cal_truth, [str(c) for c in names[cal_p.argmax(axis=1)]], data.classes
            ),
            "with_unclear": _with_unclear(cal_truth, cal_p, data.classes, choice.threshold),
        }

    plot_confusion_matrix(
        test_plain["confusion_matrix"],
        out_dir / "confusion_matrix.png",
        title=f"{PLANKTON_MODEL}: test split",
    )
    plot_confusion_matrix(
        test_unclear["all"]["confusion_matrix"],
        out_dir / "confusion_matrix_unclear.png",
        title=f"{PLANKTON_MODEL}: test split, unclear below {choice.threshold:.3f}",
    )
    write_split(out_dir / "split.csv", data.files, [data.classes[t] for t in data.targets], groups, parts)

    one_row = data.features[test_idx[:1]]
    card: dict[str, Any] = {
        "name": PLANKTON_MODEL,
        "task": "category of one plankton object from its measurements; unclear when the forest is unsure",
        "classes": list(data.classes),
        "unclear_label": UNCLEAR,
        "feature_names": list(feature_names),
        "feature_set_version": feature_set,
        "features": {
            "source": "specimen_classify.domain.plankton.crops.crop_object (as POST /classify/plankton "
            "with input=crop): bright-on-dark crops inverted, the background levelled from the border, "
            "the organism the largest object near the centre (scale bars left out), measured with "
            "specimen_imaging.measurements",
            "segmentation": CROP_SEGMENTATION.model_dump(),
        },
        "unclear_threshold": choice.threshold,
        "unclear_threshold_rule": UNCLEAR_RULE,
        "unclear_threshold_validation": {
            "target_precision": TARGET_PRECISION,
            "min_threshold": MIN_UNCLEAR_THRESHOLD,
            "precision": choice.precision,
            "coverage": choice.coverage,
            "target_reached": choice.target_reached,
            "chosen_on": "validation split" + (" and calibration crops" if calibration is not None else ""),
        },
        "metrics": {
            "test": test_plain,
            "test_with_unclear": test_unclear,
            "validation": val_plain,
            **({"calibration": calibration_metrics} if calibration_metrics is not None else {}),
        },
        "split": {
            "seed": seed,
            "fractions": [float(f) for f in fractions],
            "stratified_by": "class",
            "counts": split_counts(data.targets, data.classes, parts),
            "dedup": {
                "method": groups_method,
                "max_distance": CROP_MAX_DISTANCE,
                **dedup.group_summary(groups),
            },
            "file": "split.csv",
        },
        "data": data_section,
        "forest": {
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "params": forest_params,
            "nodes": int(sum(tree.tree_.node_count for tree in forest.estimators_)),
            "max_depth_reached": int(max(tree.tree_.max_depth for tree in forest.estimators_)),
            "feature_importances": {
                name: float(v) for name, v in zip(feature_names, forest.feature_importances_, strict=True)
            },
        },
        "training": {
            "seconds": {
                "measuring": round(measured_at - started, 2),
                "fit": round(trained_at - measured_at, 2),
                "export_and_check": round(exported_at - trained_at, 2),
                "total": round(time.monotonic() - started, 2),
            },
        },
        "libraries": library_versions(*LIBRARIES),
        "export": {
            "format": "onnx",
            "file": MODEL_FILE,
            "bytes": len(artifact),
            "converter": "skl2onnx",
            "input": {"name": INPUT_NAME, "dtype": "float32", "shape": [None, len(feature_names)]},
            "output": PROBABILITIES_OUTPUT,
            "zipmap": False,
            "max_abs_diff_vs_sklearn": export_diff,
            "max_abs_diff_allowed": MAX_EXPORT_DIFF,
            "checked_on": "test split",
            "ms_per_single_row": {
                "onnxruntime": _ms_per_call(runtime.class_probabilities, one_row),
                "sklearn_predict_proba": _ms_per_call(forest.predict_proba, one_row),
            },
        },
        "plots": {
            "confusion_matrix": "confusion_matrix.png",
            "confusion_matrix_unclear": "confusion_matrix_unclear.png",
        },
        "created_at": rfc3339(utc_now()),
        **(extra_card or {}),
    }
    write_card(out_dir, card)
    logger.info(
        "plankton model trained",
        extra={
            "out_dir": str(out_dir),
            "test_balanced_accuracy": test_plain["balanced_accuracy"],
            "unclear_threshold": choice.threshold,
            "coverage": test_unclear["coverage"],
        },
    )
    return card
