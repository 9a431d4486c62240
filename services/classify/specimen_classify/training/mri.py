"""Train the tumor/healthy CNN: ``yes/`` + ``no/`` images in, LiteRT model + model card out.

The data folder has the layout of the public Kaggle brain-MRI set: ``DATA_DIR/yes`` (tumor) and
``DATA_DIR/no`` (healthy), images in any format
:func:`~specimen_classify.adapters.mri_images.read_mri` reads (PNG, JPEG, TIFF, DICOM). A file
that cannot be read, or holds no brain, is skipped with a warning and counted in the card.

Every image goes through the serving preprocessing
(:func:`~specimen_classify.domain.preprocessing.brain_crop`), so the model sees in training
exactly what it sees when served. Near-duplicates (pHash,
:mod:`specimen_classify.domain.dedup`) are grouped and each group lands in one split only; the
split is stratified by class. The network is the reference design's CNN; the epoch with the
lowest validation loss is kept, and the decision threshold is the one with the best balanced
accuracy on the validation split (0.5 unless beaten). The model is exported to LiteRT (float32,
any batch size), and the held-out test split is scored *through the exported model and the
serving runtime* (:class:`~specimen_classify.adapters.mri_runtime.LiteRtMriModel`), after
checking that its outputs equal Keras' within :data:`MAX_EXPORT_DIFF`.

Written to ``OUT_DIR``: ``model.tflite``, ``card.json``, ``confusion_matrix.png``, ``roc.png``
and ``split.csv`` (each file's class, near-duplicate group and split).

TensorFlow is imported inside the functions, after ``TF_CPP_MIN_LOG_LEVEL`` is set when quiet,
so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from specimen_classify.adapters.mri_images import read_mri
from specimen_classify.adapters.mri_runtime import MODEL_FILE, LiteRtMriModel
from specimen_classify.domain import dedup
from specimen_classify.domain.evaluation import auc, balanced_threshold, classification_report, roc_curve
from specimen_classify.domain.predictions import MRI_MODEL, ModelVersion
from specimen_classify.domain.preprocessing import INPUT_SIZE, TARGET_SIZE, brain_crop
from specimen_classify.training.cards import (
    ExportMismatch,
    library_versions,
    plot_confusion_matrix,
    plot_roc,
    split_counts,
    write_card,
    write_split,
)
from specimen_kit.errors import Problem
from specimen_kit.timestamps import rfc3339, utc_now

logger = logging.getLogger(__name__)

LABELS = ("healthy", "tumor")
"""Class names, index = the network's target (1 = tumor)."""
FOLDERS = {"no": "healthy", "yes": "tumor"}
"""Data folder → class (the Kaggle set's layout)."""
DEFAULT_EPOCHS = 60
DEFAULT_BATCH_SIZE = 32
DEFAULT_PATIENCE = 10
"""Epochs without a lower validation loss before training stops early."""
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
DEFAULT_THRESHOLD = 0.5
"""Decision threshold kept unless validation shows a better balanced accuracy elsewhere."""
THRESHOLD_BOUNDS = (0.05, 0.95)
MAX_EXPORT_DIFF = 1e-5
"""Largest accepted |LiteRT - Keras| tumor probability on the test split."""
MAX_PIXELS = 100_000_000
"""Largest image read (pixels), far above any MRI slice."""
ROC_POINTS = 101
"""Most ROC points kept in the card (the PNG uses them all)."""
LIBRARIES = ("tensorflow", "keras", "numpy", "opencv-contrib-python-headless", "ai-edge-litert")
ARCHITECTURE = (
    "Conv2D(16, 9x9, relu) > MaxPool(2) > Dropout(0.25) > Conv2D(36, 9x9, relu) > MaxPool(2) > "
    "Dropout(0.25) > Flatten > Dense(512, relu) > Dropout(0.15) > Dense(1, sigmoid)"
)


@dataclass(frozen=True)
class MriDataset:
    """The usable images of a data folder, preprocessed.

    Attributes
    ----------
    files : list of str
        Paths relative to the data folder, e.g. ``"yes/Y1.jpg"``.
    inputs : ndarray of float32, (n, 32, 32)
        The CNN inputs (:func:`brain_crop`).
    targets : ndarray of int64, (n,)
        1 for tumor, 0 for healthy.
    hashes : ndarray of uint8, (n, 8)
        pHash of each decoded slice.
    skipped : list of dict
        ``{"file", "reason"}`` of each file left out.
    """

    files: list[str]
    inputs: npt.NDArray[np.float32]
    targets: npt.NDArray[np.int64]
    hashes: npt.NDArray[np.uint8]
    skipped: list[dict[str, str]]


def load_dataset(data_dir: Path, *, progress: bool = True) -> MriDataset:
    """Read, crop and hash every file of ``data_dir/yes`` and ``data_dir/no``.

    Raises
    ------
    FileNotFoundError
        ``yes`` or ``no`` is missing.
    ValueError
        A class has no usable image.
    """
    candidates: list[tuple[str, int]] = []
    for folder, label in FOLDERS.items():
        directory = data_dir / folder
        if not directory.is_dir():
            raise FileNotFoundError(
                f"{directory} is missing; the data folder needs yes/ (tumor) and no/ (healthy) subfolders")
        target = LABELS.index(label)
        candidates += [(f"{folder}/{path.name}", target) for path in sorted(directory.iterdir())
                       if path.is_file() and not path.name.startswith(".")]
    files, inputs, targets, hashes, skipped = [], [], [], [], []
    for name, target in tqdm(candidates, desc="preprocessing", unit="img", disable=not progress):
        try:
            gray = read_mri((data_dir / name).read_bytes(), max_pixels=MAX_PIXELS)
            crop = brain_crop(gray)
        except (Problem, OSError) as error:
            reason = getattr(error, "detail", None) or str(error)
            logger.warning("skipped %s: %s", name, reason, extra={"file": name})
            skipped.append({"file": name, "reason": reason})
            continue
        files.append(name)
        inputs.append(crop.input_32)
        targets.append(target)
        hashes.append(dedup.perceptual_hash(gray))
    target_array = np.asarray(targets, np.int64)
    for index, label in enumerate(LABELS):
        if not (target_array == index).any():
            raise ValueError(f"no usable {label} image in {data_dir}; "
                             f"{len(skipped)} file(s) were skipped as unreadable or without a brain")
    return MriDataset(
        files=files,
        inputs=np.stack(inputs).astype(np.float32),
        targets=target_array,
        hashes=np.stack(hashes).astype(np.uint8),
        skipped=skipped,
    )


@contextlib.contextmanager
def _native_output_quieted(quiet: bool) -> Iterator[None]:
    """Hold back what TensorFlow's C++ side writes to stdout/stderr; replay it if this fails.

    ``TF_CPP_MIN_LOG_LEVEL`` does not reach the absl messages TensorFlow prints while it loads
    and converts, so quiet mode sends file descriptors 1 and 2 to a temporary file meanwhile.
    """
    if not quiet:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            sink.seek(0)
            logger.error("TensorFlow output before the failure:\n%s", sink.read().decode(errors="replace"))
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def build_cnn() -> Any:
    """The reference design's CNN (untrained, Keras 'valid' padding), input (n, 32, 32, 1)."""
    import keras  # type: ignore[import-untyped,unused-ignore]

    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=(INPUT_SIZE, INPUT_SIZE, 1), name="slice"),
        layers.Conv2D(16, 9, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Conv2D(36, 9, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.15),
        layers.Dense(1, activation="sigmoid", name="tumor"),
    ], name="mri_tumor_cnn")


def export_litert(model: Any) -> bytes:
    """A Keras model as a float32 LiteRT flatbuffer; the batch dimension stays dynamic."""
    import tensorflow as tf  # type: ignore[import-untyped,unused-ignore]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    # Keras prints the intermediate SavedModel's signature; nobody reads it here.
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(converter.convert())


def flipped_copies(inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The images, then mirrored left-right, up-down, and both (a 180 degree turn): 4x as many.

    Whether a slice holds a tumor does not depend on its orientation, and public sets mix
    radiological and neurological conventions and patient poses.
    """
    return np.concatenate([inputs, inputs[:, :, ::-1], inputs[:, ::-1], inputs[:, ::-1, ::-1]])


def _balanced_accuracy(truth: npt.NDArray[np.bool_], p: npt.NDArray[np.float64], threshold: float) -> float:
    called = p >= threshold
    return float(((called & truth).sum() / truth.sum() + (~called & ~truth).sum() / (~truth).sum()) / 2.0)


def _thin(curve: Sequence[npt.NDArray[np.float64]], points: int) -> list[list[float]]:
    """Keep at most ``points`` evenly spaced points of a curve, always its first and last."""
    size = len(curve[0])
    keep = np.unique(np.linspace(0, size - 1, min(points, size)).round().astype(int))
    return [[float(v) for v in values[keep]] for values in curve]


def train_mri(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    patience: int = DEFAULT_PATIENCE,
    augment: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Train, export and evaluate the tumor/healthy CNN; write the artifact and card to ``out_dir``.

    Parameters
    ----------
    data_dir : Path
        Holds ``yes/`` (tumor) and ``no/`` (healthy) images.
    out_dir : Path
        Created if missing; receives ``model.tflite``, ``card.json``, ``confusion_matrix.png``,
        ``roc.png`` and ``split.csv``.
    seed : int
        Seeds the split and Keras (:func:`keras.utils.set_random_seed`).
    epochs : int
        Most epochs; training stops after ``patience`` epochs without a lower validation loss,
        and the weights of the best epoch are kept.
    batch_size : int
    fractions : sequence of 3 floats
        Shares of train, validation and test images, summing to 1.
    patience : int
    augment : bool
        Train on every training image also mirrored left-right, up-down and both
        (:func:`flipped_copies`). Validation and test images are never altered.
    progress : bool
        tqdm bar while preprocessing and a line per epoch; nothing (and TensorFlow's C++ logs
        quieted) when False.

    Returns
    -------
    dict
        The model card, as written to ``card.json``.

    Raises
    ------
    FileNotFoundError
        ``yes/`` or ``no/`` is missing.
    ValueError
        Bad arguments, a class without usable images, or too few images for every split.
    ExportMismatch
        The LiteRT model's outputs differ from Keras' by more than :data:`MAX_EXPORT_DIFF`.
    """
    if epochs < 1 or batch_size < 1 or patience < 1:
        raise ValueError(f"epochs={epochs}, batch_size={batch_size} and patience={patience} must be >= 1")
    if len(fractions) != 3:
        raise ValueError(f"fractions={tuple(fractions)!r} must be three shares: train, validation, test")
    if not progress:
        # Read by TensorFlow's C++ logging when it is first imported.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    started = time.monotonic()
    data = load_dataset(data_dir, progress=progress)
    loaded_at = time.monotonic()

    groups = dedup.near_duplicate_groups(data.hashes, dedup.MAX_DISTANCE)
    train_idx, val_idx, test_idx = dedup.split_groups(groups, data.targets, fractions, seed)
    parts = {"train": train_idx, "validation": val_idx, "test": test_idx}
    for name, idx in parts.items():
        if idx.size == 0:
            raise ValueError(f"the {name} split is empty: {len(data.files)} usable images in "
                             f"{len(np.unique(groups))} groups are too few for fractions {tuple(fractions)}")

    with _native_output_quieted(not progress):
        import keras  # type: ignore[import-untyped,unused-ignore]
        import tensorflow  # type: ignore[import-untyped,unused-ignore]  # noqa: F401  (its logs, now)

    keras.utils.set_random_seed(seed)
    model = build_cnn()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    x = data.inputs[..., np.newaxis]
    y = data.targets.astype(np.float32)
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    x_train = flipped_copies(x[train_idx]) if augment else x[train_idx]
    y_train = np.tile(y[train_idx], 4) if augment else y[train_idx]
    history = model.fit(x_train, y_train, validation_data=(x[val_idx], y[val_idx]),
                        epochs=epochs, batch_size=batch_size, shuffle=True, callbacks=[stopper],
                        verbose=2 if progress else 0)
    trained_at = time.monotonic()
    epochs_run = len(history.history["loss"])

    out_dir.mkdir(parents=True, exist_ok=True)
    with _native_output_quieted(not progress):
        flatbuffer = export_litert(model)
        # The card is scored by the serving runtime itself (version 0: not in a store yet); the
        # threshold given here is unused, every call below applies the chosen one.
        runtime = LiteRtMriModel(flatbuffer, ModelVersion(MRI_MODEL, 0), DEFAULT_THRESHOLD)
        keras_test = model.predict(x[test_idx], batch_size=256, verbose=0).reshape(-1).astype(np.float64)
        test_p = runtime.tumor_probabilities(data.inputs[test_idx])
        val_p = runtime.tumor_probabilities(data.inputs[val_idx])
    export_diff = float(np.max(np.abs(test_p - keras_test)))
    if not export_diff <= MAX_EXPORT_DIFF:
        raise ExportMismatch(f"LiteRT differs from Keras by {export_diff:.3g} on the test split "
                             f"(> {MAX_EXPORT_DIFF}); the export is not faithful")
    (out_dir / MODEL_FILE).write_bytes(flatbuffer)

    val_truth = data.targets[val_idx] == 1
    if val_truth.all() or not val_truth.any():
        raise ValueError(f"the validation split holds one class only ({int(val_truth.sum())} tumor of "
                         f"{val_truth.size}); add images of the other class or raise its fraction")
    threshold = balanced_threshold(val_truth, val_p, default=DEFAULT_THRESHOLD, bounds=THRESHOLD_BOUNDS)

    def scored(idx: npt.NDArray[np.int64], p: npt.NDArray[np.float64]) -> dict[str, Any]:
        truth = data.targets[idx] == 1
        report = classification_report(
            np.asarray(LABELS)[data.targets[idx]], np.where(p >= threshold, LABELS[1], LABELS[0]), LABELS)
        fpr, tpr, thresholds = roc_curve(truth, p)
        area = auc(fpr, tpr)
        thin_fpr, thin_tpr, thin_thr = _thin((fpr, tpr, thresholds), ROC_POINTS)
        # The first threshold is +inf (nothing called tumor), which JSON cannot hold: null.
        report["roc"] = {"auc": area, "fpr": thin_fpr, "tpr": thin_tpr, "points": int(fpr.size),
                         "thresholds": [t if np.isfinite(t) else None for t in thin_thr]}
        return report

    test_metrics = scored(test_idx, test_p)
    val_metrics = scored(val_idx, val_p)
    fpr, tpr, _ = roc_curve(data.targets[test_idx] == 1, test_p)
    plot_confusion_matrix(test_metrics["confusion_matrix"], out_dir / "confusion_matrix.png",
                          title=f"{MRI_MODEL}: test split")
    plot_roc(fpr, tpr, test_metrics["roc"]["auc"], out_dir / "roc.png", title=f"{MRI_MODEL}: test split ROC")
    write_split(out_dir / "split.csv", data.files, [LABELS[t] for t in data.targets], groups, parts)

    folder_counts = {label: int((data.targets == i).sum()) for i, label in enumerate(LABELS)}
    card: dict[str, Any] = {
        "name": MRI_MODEL,
        "task": "binary classification of a brain MRI slice: tumor or healthy",
        "architecture": {
            "summary": ARCHITECTURE,
            "padding": "valid",
            "parameters": int(model.count_params()),
            "framework": "keras",
        },
        "input": {
            "size": INPUT_SIZE,
            "shape": [INPUT_SIZE, INPUT_SIZE, 1],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "preprocessing": f"gray, resize {TARGET_SIZE}x{TARGET_SIZE}, blur, threshold, largest contour, "
                             f"crop at its extreme points, resize {INPUT_SIZE}x{INPUT_SIZE}, scale to [0, 1]",
        },
        "labels": list(LABELS),
        "positive_label": LABELS[1],
        "decision_threshold": threshold,
        "decision_threshold_selection": {
            "rule": "best balanced accuracy on the validation split; 0.5 unless beaten; "
                    f"within {list(THRESHOLD_BOUNDS)}",
            "default": DEFAULT_THRESHOLD,
            "validation_balanced_accuracy_at_default":
                _balanced_accuracy(val_truth, val_p, DEFAULT_THRESHOLD),
            "validation_balanced_accuracy_at_chosen": _balanced_accuracy(val_truth, val_p, threshold),
        },
        "metrics": {"test": test_metrics, "validation": val_metrics},
        "split": {
            "seed": seed,
            "fractions": [float(f) for f in fractions],
            "counts": split_counts(data.targets, LABELS, parts),
            "dedup": {"method": dedup.HASH_METHOD, "max_distance": dedup.MAX_DISTANCE,
                      **dedup.group_summary(groups)},
            "file": "split.csv",
        },
        "data": {
            "path": str(data_dir),
            "layout": "yes/ = tumor, no/ = healthy",
            "counts": folder_counts,
            "skipped": {"count": len(data.skipped), "files": data.skipped},
        },
        "training": {
            "epochs_max": epochs,
            "epochs_run": epochs_run,
            "best_epoch": int(stopper.best_epoch) + 1,
            "patience": patience,
            "selection": "lowest validation loss (weights of that epoch kept)",
            "batch_size": batch_size,
            "augmentation": "flips: left-right, up-down, both (4 views of each training image)"
                            if augment else None,
            "training_images": int(x_train.shape[0]),
            "optimizer": {"name": "adam", "learning_rate": 1e-3},
            "loss": "binary_crossentropy",
            "history": {key: [float(v) for v in values] for key, values in history.history.items()},
            "seconds": {"preprocessing": round(loaded_at - started, 2),
                        "fit": round(trained_at - loaded_at, 2),
                        "total": round(time.monotonic() - started, 2)},
        },
        "libraries": library_versions(*LIBRARIES),
        "export": {"format": "litert", "file": MODEL_FILE, "dtype": "float32", "batch": "dynamic",
                   "max_abs_diff_vs_keras": export_diff, "max_abs_diff_allowed": MAX_EXPORT_DIFF,
                   "bytes": len(flatbuffer)},
        "plots": {"confusion_matrix": "confusion_matrix.png", "roc": "roc.png"},
        "created_at": rfc3339(utc_now()),
    }
    write_card(out_dir, card)
    logger.info("MRI model trained", extra={
        "out_dir": str(out_dir), "test_accuracy": test_metrics["accuracy"],
        "test_auc": test_metrics["roc"]["auc"], "epochs_run": epochs_run})
    return card
