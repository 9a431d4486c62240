"""Train the tumor/healthy CNN: ``yes/`` + ``no/`` images in, LiteRT model + model card out.

The data folder has the layout of the public Kaggle brain-MRI set: ``DATA_DIR/yes`` (tumor) and
``DATA_DIR/no`` (healthy), images in any format
:func:`~specimen_classify.adapters.mri_images.read_mri` reads (PNG, JPEG, TIFF, DICOM). A file
that cannot be read, or holds no brain, is skipped with a warning and counted in the card.

Every image goes through the serving preprocessing
(:func:`~specimen_classify.domain.preprocessing.brain_crop`), so the model sees in training
exactly what it sees when served. Near-duplicates (pHash,
:mod:`specimen_classify.domain.dedup`) are grouped and each group lands in one split only; the
split is stratified by class.

The network is one of :data:`ARCHITECTURES`: ``gapmax64`` (the default: 64x64 input, four conv
blocks with batch norm, global average and global max pooling side by side, dropout, trained on
freshly augmented copies every epoch: flips, small rotations/scales/shifts, gamma and contrast,
blur, noise), its variants ``gap64`` (average pooling only) and ``gap128s``, or ``reference`` (the
reference design's 32x32 CNN, trained on its four flipped views). All end in a *logit* and
name their penultimate layer ``features``; the epoch with the lowest validation loss is kept.

The model is exported to LiteRT (float32, any batch size) with two outputs, the logit and the
features, and everything after that is computed *through the exported model and the serving
runtime* (:class:`~specimen_classify.adapters.mri_runtime.LiteRtMriModel`), after checking that
its probabilities equal Keras' within :data:`MAX_EXPORT_DIFF`:

- **calibration**: the temperature with the lowest validation NLL
  (:mod:`specimen_classify.domain.calibration`); served probabilities are ``sigmoid(logit / T)``,
  and the card gives the expected calibration error before and after, on validation and test;
- **decision threshold**: the best balanced accuracy on the calibrated validation probabilities
  (0.5 unless beaten);
- **out of distribution**: class means and shared covariance of the training split's features
  (``ood.npz``), and the threshold on the Mahalanobis distance: the :data:`OOD_PERCENTILE`
  percentile of the validation split's (:mod:`specimen_classify.domain.familiarity`);
- **evaluation**: the test split and, when given, other folders (another generator's slices, say;
  never used for any choice above), as answered to a client: image checks, distance, label.

The card states where the data came from (``provenance``, and a SHA-256 of the files), the
intended use and the limits.

Written to ``OUT_DIR``: ``model.tflite``, ``ood.npz``, ``card.json``, ``confusion_matrix.png``,
``roc.png`` and ``split.csv`` (each file's class, near-duplicate group and split).

TensorFlow is imported inside the functions, after ``TF_CPP_MIN_LOG_LEVEL`` is set when quiet,
so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from specimen_classify.adapters.mri_images import read_mri
from specimen_classify.adapters.mri_runtime import MODEL_FILE, OOD_FILE, LiteRtMriModel
from specimen_classify.domain import dedup, familiarity
from specimen_classify.domain.calibration import (
    ECE_BINS,
    TEMPERATURE_BOUNDS,
    binary_nll,
    expected_calibration_error,
    fit_temperature,
    sigmoid,
)
from specimen_classify.domain.evaluation import auc, balanced_threshold, classification_report, roc_curve
from specimen_classify.domain.familiarity import (
    FeatureStatistics,
    fit_feature_statistics,
    mahalanobis_scores,
    score_threshold,
    unfamiliar_image,
)
from specimen_classify.domain.predictions import MRI_MODEL, ModelVersion, TrainingData
from specimen_classify.domain.preprocessing import TARGET_SIZE, brain_crop, model_input
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
DEFAULT_PATIENCE = 20
"""Epochs without a lower validation loss before training stops early. The batch-normed network's
validation loss on the randomised slices is noisy from epoch to epoch while it still improves for
50+ epochs; 10 stopped a bootstrap at epoch 18 (test accuracy 0.73 instead of 0.86)."""
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
OOD_PERCENTILE = familiarity.OOD_PERCENTILE
LIBRARIES = ("tensorflow", "keras", "numpy", "opencv-contrib-python-headless", "ai-edge-litert",
             "scikit-learn")
FEATURES_LAYER = "features"
"""Name of every architecture's penultimate layer, exported as the model's second output."""
INTENDED_USE = ("research and teaching: sorting brain MRI slices into tumor / healthy, with an answer "
                "of 'uncertain' for slices unlike the training data")
LIMITS_GENERATED = ("not a diagnostic device; trained on synthetic slices drawn by Specimen's generator, "
                    "not on patients: expect lower accuracy on real scans, and no meaning in the "
                    "probability for scanners, sequences or lesions the generator does not draw")
LIMITS_FOLDER = ("not a diagnostic device; only as good as the labelled folder it was trained on (see "
                 "data.provenance); validate on data from your own scanners before relying on it")


@dataclass(frozen=True)
class Architecture:
    """One trainable network: its input side, how it is built, and its training views."""

    name: str
    input_size: int
    summary: str
    build: Callable[[], Any]
    augmentation: str
    schedule: str = "constant"
    """Learning-rate schedule over the epochs (:func:`learning_rate`); the reference's is constant."""


def _build_reference() -> Any:
    import keras  # type: ignore[import-untyped,unused-ignore]

    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=(32, 32, 1), name="slice"),
        layers.Conv2D(16, 9, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Conv2D(36, 9, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(512, activation="relu", name=FEATURES_LAYER),
        layers.Dropout(0.15),
        layers.Dense(1, name="tumor_logit"),
    ], name="mri_tumor_cnn")


BATCH_NORM_MOMENTUM = 0.9
"""Momentum of the gap networks' batch-norm moving statistics. Keras' 0.99 averages over ~100 steps, several
epochs of a bootstrap-sized set, so early validation losses are read through stale statistics and
early stopping keeps a first-epoch model; 0.9 follows the weights within an epoch."""


FOREGROUND_LEVEL = 0.1
"""Input level (of 1) above which a pixel of the crop counts as head for the standardisation."""
STANDARD_CLIP = 5.0
"""Standardised values are clipped to +-this many standard deviations."""


def _standardise_layer() -> Any:
    """A layer that standardises each image by the mean and spread of its own head pixels.

    Inside the network, so an exported LiteRT model would apply it exactly as trained: nothing to
    keep in step in the serving preprocessing. Windowing, gain and the share of bright scalp
    differ between scanners, sequences and exports; after this, what is left is how tissues
    compare within the slice. Not in the gap networks: ``bench/mri_selection.py`` measured
    it no better on a contrast family held out of training (BENCHMARKS.md, issue 11).
    """
    import keras  # type: ignore[import-untyped,unused-ignore]

    ops = keras.ops

    class ForegroundStandardisation(keras.layers.Layer):  # type: ignore[misc]
        def call(self, x: Any) -> Any:
            mask = ops.cast(ops.greater(x, FOREGROUND_LEVEL), x.dtype)
            count = ops.sum(mask, axis=(1, 2, 3), keepdims=True) + 1.0
            mean = ops.sum(x * mask, axis=(1, 2, 3), keepdims=True) / count
            variance = ops.sum(ops.square((x - mean) * mask), axis=(1, 2, 3), keepdims=True) / count
            return ops.clip((x - mean) / ops.sqrt(variance + 1e-4), -STANDARD_CLIP, STANDARD_CLIP)

    return ForegroundStandardisation(name="standardise")


def _conv_block(filters: int, size: int = 3, strides: int = 1) -> list[Any]:
    """Conv2D (no bias) > BatchNorm > ReLU. Batch norm after every convolution: without it the
    randomised contrasts (T1, T2, FLAIR, windowing) leave the plain network unable to fit even its
    training slices (0.56 training accuracy after 30 epochs); the bias is the norm's."""
    import keras  # type: ignore[import-untyped,unused-ignore]

    layers = keras.layers
    return [layers.Conv2D(filters, size, strides=strides, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM), layers.ReLU()]


def _gap_network(side: int, blocks: list[Any], name: str, *, max_pooling: bool = False) -> Any:
    """``blocks`` on a ``side`` x ``side`` slice, then the gap networks' head: Conv2D(64) block,
    global average pooling (and global max pooling beside it with ``max_pooling``), dropout, the
    64 features, dropout, the tumor logit."""
    import keras  # type: ignore[import-untyped,unused-ignore]

    layers = keras.layers
    x = inputs = keras.Input(shape=(side, side, 1), name="slice")
    for layer in [*blocks, *_conv_block(64)]:
        x = layer(x)
    pooled = layers.GlobalAveragePooling2D()(x)
    if max_pooling:
        pooled = layers.Concatenate()([pooled, layers.GlobalMaxPooling2D()(x)])
    x = layers.Dropout(0.3)(pooled)
    x = layers.Dense(64, activation="relu", name=FEATURES_LAYER)(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, layers.Dense(1, name="tumor_logit")(x), name=name)


def _gap64_blocks(standardise: bool = False) -> list[Any]:
    import keras  # type: ignore[import-untyped,unused-ignore]

    blocks: list[Any] = [_standardise_layer()] if standardise else []
    for filters in (16, 32, 48):
        blocks += [*_conv_block(filters), keras.layers.MaxPooling2D(2)]
    return blocks


def _build_gap64(standardise: bool = False) -> Any:
    return _gap_network(64, _gap64_blocks(standardise), "mri_tumor_gap64")


def _build_gapmax64() -> Any:
    # A tumor is a finding anywhere in the slice: the strongest response of the last feature map
    # says so directly, where its average dilutes a focus of a few pixels by the whole 8x8 map.
    return _gap_network(64, _gap64_blocks(), "mri_tumor_gapmax64", max_pooling=True)


def _build_gap128s() -> Any:
    import keras  # type: ignore[import-untyped,unused-ignore]

    # A learnt 5x5 stride-2 filter reads the 128-pixel crop where gap64 reads an area-averaged
    # 64-pixel one: a focus of 2.5 % of the side is 3 pixels across there, 1.6 at 64.
    blocks: list[Any] = [*_conv_block(16, 5, 2), keras.layers.MaxPooling2D(2)]
    for filters in (32, 48):
        blocks += [*_conv_block(filters), keras.layers.MaxPooling2D(2)]
    return _gap_network(128, blocks, "mri_tumor_gap128s")


FRESH_VIEWS = ("every epoch, each training image anew: flips (left-right, up-down), rotation within +-15 "
               "degrees, scale 0.9-1.1, shift within 4 % of the side, gamma 0.7-1.4, contrast 0.85-1.15, "
               "Gaussian blur (sigma up to 1 px, one image in three), Gaussian noise (sigma up to 0.03)")
"""The gap networks' augmentation (:func:`augmented`), as the card states it."""

_GAP64_BLOCKS = ("Conv2D(16, 3x3, same) > BatchNorm > ReLU > MaxPool(2) > [Conv2D(32) > BatchNorm > "
                 "ReLU] > MaxPool(2) > [Conv2D(48) > BatchNorm > ReLU] > MaxPool(2) > [Conv2D(64) > "
                 "BatchNorm > ReLU]")
_GAP_HEAD = "Dropout(0.3) > Dense(64, relu) [features] > Dropout(0.3) > Dense(1) [logit]"

ARCHITECTURES = {
    "gap128s": Architecture(
        name="gap128s", input_size=128, build=_build_gap128s,
        summary="Conv2D(16, 5x5, stride 2, same) > BatchNorm > ReLU > MaxPool(2) > [Conv2D(32, 3x3) > "
                "BatchNorm > ReLU] > MaxPool(2) > [Conv2D(48) > BatchNorm > ReLU] > MaxPool(2) > "
                f"[Conv2D(64) > BatchNorm > ReLU] > GlobalAveragePooling > {_GAP_HEAD}",
        augmentation=FRESH_VIEWS),
    "gapmax64": Architecture(
        name="gapmax64", input_size=64, build=_build_gapmax64,
        summary=f"{_GAP64_BLOCKS} > [GlobalAveragePooling, GlobalMaxPooling] concatenated > {_GAP_HEAD}",
        augmentation=FRESH_VIEWS),
    "gap64": Architecture(
        name="gap64", input_size=64, build=_build_gap64,
        summary=f"{_GAP64_BLOCKS} > GlobalAveragePooling > {_GAP_HEAD}",
        augmentation=FRESH_VIEWS),
    "reference": Architecture(
        name="reference", input_size=32, build=_build_reference,
        summary="Conv2D(16, 9x9, relu) > MaxPool(2) > Dropout(0.25) > Conv2D(36, 9x9, relu) > MaxPool(2) > "
                "Dropout(0.25) > Flatten > Dense(512, relu) [features] > Dropout(0.15) > Dense(1) [logit]",
        augmentation="flips: left-right, up-down, both (4 views of each training image)"),
}
"""The networks ``--architecture`` names."""
DEFAULT_ARCHITECTURE = "gapmax64"


def build_cnn(architecture: str = "reference") -> Any:
    """An untrained network of :data:`ARCHITECTURES` (Keras), ending in the tumor logit."""
    return ARCHITECTURES[architecture].build()


@dataclass(frozen=True)
class MriDataset:
    """The usable images of a data folder, preprocessed.

    Attributes
    ----------
    files : list of str
        Paths relative to the data folder, e.g. ``"yes/Y1.jpg"``.
    inputs : ndarray of float32, (n, side, side)
        The CNN inputs (:func:`brain_crop`, then :func:`model_input`).
    targets : ndarray of int64, (n,)
        1 for tumor, 0 for healthy.
    hashes : ndarray of uint8, (n, 8)
        pHash of each decoded slice.
    unfamiliar : list of str or None
        Why each image fails the image checks (:func:`unfamiliar_image`), None when it passes.
    skipped : list of dict
        ``{"file", "reason"}`` of each file left out.
    """

    files: list[str]
    inputs: npt.NDArray[np.float32]
    targets: npt.NDArray[np.int64]
    hashes: npt.NDArray[np.uint8]
    unfamiliar: list[str | None]
    skipped: list[dict[str, str]]


def load_dataset(data_dir: Path, *, input_size: int = 32, progress: bool = True) -> MriDataset:
    """Read, check, crop and hash every file of ``data_dir/yes`` and ``data_dir/no``.

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
    files, inputs, targets, hashes, unfamiliar, skipped = [], [], [], [], [], []
    for name, target in tqdm(candidates, desc="preprocessing", unit="img", disable=not progress):
        try:
            pixels = read_mri((data_dir / name).read_bytes(), max_pixels=MAX_PIXELS)
            crop = brain_crop(pixels)
        except (Problem, OSError) as error:
            reason = getattr(error, "detail", None) or str(error)
            logger.warning("skipped %s: %s", name, reason, extra={"file": name})
            skipped.append({"file": name, "reason": reason})
            continue
        files.append(name)
        inputs.append(model_input(crop, input_size))
        targets.append(target)
        hashes.append(dedup.perceptual_hash(pixels))
        unfamiliar.append(unfamiliar_image(pixels, crop))
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
        unfamiliar=unfamiliar,
        skipped=skipped,
    )


def folder_digest(data_dir: Path) -> str:
    """SHA-256 over the sorted relative paths and bytes of ``yes/`` and ``no/``: which data, exactly."""
    digest = hashlib.sha256()
    for folder in sorted(FOLDERS):
        directory = data_dir / folder
        for path in sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")):
            digest.update(f"{folder}/{path.name}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def training_data_summary(provenance: Mapping[str, Any]) -> TrainingData:
    """The short provenance every answer carries, from the card's ``data.provenance``."""
    if provenance.get("kind") == "generated":
        return TrainingData("generated", (
            f"synthetic slices: {provenance.get('generator')} ({provenance.get('generator_version')}), "
            f"seed {provenance.get('seed')}, {provenance.get('slices_per_class')} per class; "
            "not real patients"))
    return TrainingData("folder", f"images of the folder {provenance.get('path')} "
                                  f"(sha256 {str(provenance.get('sha256', ''))[:12]})")
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


def export_litert(model: Any) -> bytes:
    """A Keras model as a float32 LiteRT flatbuffer; the batch dimension stays dynamic."""
    import tensorflow as tf  # type: ignore[import-untyped,unused-ignore]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    # Keras prints the intermediate SavedModel's signature; nobody reads it here.
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(converter.convert())


def with_features_output(model: Any) -> Any:
    """The trained network with two outputs: its logit and its ``features`` layer (served both)."""
    import keras  # type: ignore[import-untyped,unused-ignore]

    outputs = [model.outputs[0], model.get_layer(FEATURES_LAYER).output]
    return keras.Model(inputs=model.inputs, outputs=outputs, name=f"{model.name}_with_features")


def flipped_copies(inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The images, then mirrored left-right, up-down, and both (a 180 degree turn): 4x as many.

    Whether a slice holds a tumor does not depend on its orientation, and public sets mix
    radiological and neurological conventions and patient poses.
    """
    return np.concatenate([inputs, inputs[:, :, ::-1], inputs[:, ::-1], inputs[:, ::-1, ::-1]])


def augmented(inputs: npt.NDArray[np.float32], rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """A fresh random view of every image (the gap networks' augmentation, :data:`FRESH_VIEWS`).

    Geometry (flips, rotation, scale, shift) keeps the label; intensity (gamma, contrast, blur,
    noise) stands in for scanners, sequences and resolutions the generator does not vary. Values
    stay in [0, 1].
    """
    count, side = inputs.shape[0], inputs.shape[1]
    out = np.empty_like(inputs)
    centre = ((side - 1) / 2.0, (side - 1) / 2.0)
    for i in range(count):
        image = inputs[i]
        if rng.random() < 0.5:
            image = image[:, ::-1]
        if rng.random() < 0.5:
            image = image[::-1]
        matrix = cv2.getRotationMatrix2D(centre, float(rng.uniform(-15, 15)), float(rng.uniform(0.9, 1.1)))
        matrix[:, 2] += rng.uniform(-0.04, 0.04, 2) * side
        image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (side, side), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        image = np.power(np.clip(image, 0.0, 1.0), float(rng.uniform(0.7, 1.4)))
        image = image * float(rng.uniform(0.85, 1.15))
        if rng.random() < 1.0 / 3.0:
            image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, 1.0)))
        image = image + rng.normal(0.0, float(rng.uniform(0.0, 0.03)), image.shape)
        out[i] = np.clip(image, 0.0, 1.0)
    return out


def augmented_strong(inputs: npt.NDArray[np.float32], rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Stronger views than :func:`augmented`: also an elastic warp, a bias field, a wider gamma
    (0.6-1.7), resolution loss and more noise.

    Not the default: compared by ``bench/mri_selection.py`` (BENCHMARKS.md, issue 11), it fitted
    slower and scored lower within the bootstrap's epochs, on its own split and on a held-out
    contrast family alike.
    """
    count, side = inputs.shape[0], inputs.shape[1]
    out = np.empty_like(inputs)
    centre = ((side - 1) / 2.0, (side - 1) / 2.0)
    grid_y, grid_x = np.mgrid[0:side, 0:side].astype(np.float32)
    axis = np.linspace(-1.0, 1.0, side, dtype=np.float32)
    for i in range(count):
        image = inputs[i]
        if rng.random() < 0.5:
            image = image[:, ::-1]
        if rng.random() < 0.5:
            image = image[::-1]
        matrix = cv2.getRotationMatrix2D(centre, float(rng.uniform(-20, 20)), float(rng.uniform(0.85, 1.15)))
        matrix[:, 2] += rng.uniform(-0.05, 0.05, 2) * side
        image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (side, side), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        if rng.random() < 0.5:  # elastic: a smooth displacement of a pixel or two
            coarse = rng.normal(0.0, float(rng.uniform(0.5, 2.0)), (2, 5, 5)).astype(np.float32)
            dx = cv2.resize(coarse[0], (side, side), interpolation=cv2.INTER_CUBIC)
            dy = cv2.resize(coarse[1], (side, side), interpolation=cv2.INTER_CUBIC)
            image = cv2.remap(image, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        if rng.random() < 0.5:  # a smooth multiplicative bias field
            c = rng.uniform(-0.3, 0.3, 3).astype(np.float32)
            across, down = axis[None, :], axis[:, None]
            image = image * np.exp(c[0] * across + c[1] * down + c[2] * down * across)
        image = np.power(np.clip(image, 0.0, 1.0), float(np.exp(rng.uniform(np.log(0.6), np.log(1.7)))))
        image = image * float(rng.uniform(0.8, 1.2))
        choice = rng.random()
        if choice < 0.25:
            image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, 1.2)))
        elif choice < 0.4:
            small = int(rng.integers(side // 3, side * 3 // 4))
            image = cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA), (side, side),
                               interpolation=cv2.INTER_LINEAR)
        image = image + rng.normal(0.0, float(rng.uniform(0.0, 0.05)), image.shape)
        out[i] = np.clip(image, 0.0, 1.0)
    return out


LEARNING_RATE = 1e-3
SCHEDULES = ("constant", "cosine")


def learning_rate(epoch: int, epochs: int, schedule: str) -> float:
    """Adam's learning rate in ``epoch`` (0-based) of ``epochs``: constant, or a cosine decay to 0.

    >>> learning_rate(0, 10, "cosine"), learning_rate(5, 10, "cosine"), learning_rate(3, 10, "constant")
    (0.001, 0.0005, 0.001)
    """
    if schedule == "constant":
        return LEARNING_RATE
    if schedule == "cosine":
        return float(round(LEARNING_RATE * 0.5 * (1.0 + np.cos(np.pi * epoch / max(epochs, 1))), 12))
    raise ValueError(f"schedule={schedule!r} is unknown; use one of {', '.join(SCHEDULES)}")


def _balanced_accuracy(truth: npt.NDArray[np.bool_], p: npt.NDArray[np.float64], threshold: float) -> float:
    called = p >= threshold
    return float(((called & truth).sum() / truth.sum() + (~called & ~truth).sum() / (~truth).sum()) / 2.0)


def _thin(curve: Sequence[npt.NDArray[np.float64]], points: int) -> list[list[float]]:
    """Keep at most ``points`` evenly spaced points of a curve, always its first and last."""
    size = len(curve[0])
    keep = np.unique(np.linspace(0, size - 1, min(points, size)).round().astype(int))
    return [[float(v) for v in values[keep]] for values in curve]


@dataclass(frozen=True)
class _Fitted:
    model: Any
    history: dict[str, list[float]]
    best_epoch: int
    training_images: int


def _fit(architecture: Architecture, x_train: npt.NDArray[np.float32], y_train: npt.NDArray[np.float32],
         x_val: npt.NDArray[np.float32], y_val: npt.NDArray[np.float32], *, seed: int, epochs: int,
         batch_size: int, patience: int, augment: bool, progress: bool) -> _Fitted:
    """Train with early stopping on the validation loss; the best epoch's weights are kept."""
    import keras  # type: ignore[import-untyped,unused-ignore]

    keras.utils.set_random_seed(seed)
    model = architecture.build()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])
    if architecture.name == "reference" or not augment:
        views = flipped_copies(x_train) if augment else x_train
        targets = np.tile(y_train, 4) if augment else y_train
        stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                restore_best_weights=True)
        fitted = model.fit(views[..., np.newaxis], targets, validation_data=(x_val[..., np.newaxis], y_val),
                           epochs=epochs, batch_size=batch_size, shuffle=True, callbacks=[stopper],
                           verbose=2 if progress else 0)
        return _Fitted(model, {key: [float(v) for v in values] for key, values in fitted.history.items()},
                       int(stopper.best_epoch) + 1, int(views.shape[0]))
    # Fresh views every epoch: one fit call per epoch, early stopping kept here.
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {}
    best_loss, best_epoch, best_weights = np.inf, 0, model.get_weights()
    for epoch in range(epochs):
        model.optimizer.learning_rate.assign(learning_rate(epoch, epochs, architecture.schedule))
        fitted = model.fit(augmented(x_train, rng)[..., np.newaxis], y_train,
                           validation_data=(x_val[..., np.newaxis], y_val), epochs=epoch + 1,
                           initial_epoch=epoch, batch_size=batch_size, shuffle=True,
                           verbose=2 if progress else 0)
        for key, values in fitted.history.items():
            history.setdefault(key, []).append(float(values[-1]))
        if history["val_loss"][-1] < best_loss:
            best_loss, best_epoch, best_weights = history["val_loss"][-1], epoch + 1, model.get_weights()
        elif epoch + 1 - best_epoch >= patience:
            break
    model.set_weights(best_weights)
    return _Fitted(model, history, best_epoch, int(x_train.shape[0]) * len(history["loss"]))


def _scored(truth: npt.NDArray[np.bool_], p: npt.NDArray[np.float64], threshold: float) -> dict[str, Any]:
    report = classification_report(np.asarray(LABELS)[truth.astype(int)],
                                   np.where(p >= threshold, LABELS[1], LABELS[0]), LABELS)
    fpr, tpr, thresholds = roc_curve(truth, p)
    thin_fpr, thin_tpr, thin_thr = _thin((fpr, tpr, thresholds), ROC_POINTS)
    # The first threshold is +inf (nothing called tumor), which JSON cannot hold: null.
    report["roc"] = {"auc": auc(fpr, tpr), "fpr": thin_fpr, "tpr": thin_tpr, "points": int(fpr.size),
                     "thresholds": [t if np.isfinite(t) else None for t in thin_thr]}
    return report


def _calibration(truth: npt.NDArray[np.bool_], logits: npt.NDArray[np.float64],
                 temperature: float) -> dict[str, float]:
    return {"ece_before": expected_calibration_error(sigmoid(logits), truth),
            "ece_after": expected_calibration_error(sigmoid(logits / temperature), truth),
            "nll_before": binary_nll(logits, truth), "nll_after": binary_nll(logits, truth, temperature)}


def _answered(truth: npt.NDArray[np.bool_], p: npt.NDArray[np.float64], familiar: npt.NDArray[np.bool_],
              threshold: float) -> dict[str, Any]:
    """What a client sees: how many slices get a label, and how good the labels are."""
    called = p >= threshold
    right = called == truth
    answered = int(familiar.sum())
    return {
        "samples": int(truth.size),
        "answered": answered,
        "answered_fraction": float(familiar.mean()) if truth.size else 0.0,
        "accuracy_all": float(right.mean()) if truth.size else 0.0,
        "accuracy_answered": float(right[familiar].mean()) if answered else None,
        "balanced_accuracy_all": _balanced_accuracy(truth, p, threshold)
        if truth.any() and (~truth).any() else None,
        "ece_answered": expected_calibration_error(p[familiar], truth[familiar]) if answered else None,
    }


def evaluate_folder(runtime: LiteRtMriModel, data_dir: Path, *, progress: bool = False) -> dict[str, Any]:
    """Score a ``yes/`` + ``no/`` folder as the service answers it (image checks, distance, label).

    Used for reporting only (a held-out generator family): nothing is chosen on it.
    """
    data = load_dataset(data_dir, input_size=runtime.input_size, progress=progress)
    scores = runtime.score(data.inputs)
    truth = data.targets == 1
    checks = np.array([reason is None for reason in data.unfamiliar])
    distance_ok = (np.ones(truth.size, bool) if scores.ood_score is None or runtime.ood_threshold is None
                   else scores.ood_score <= runtime.ood_threshold)
    result = _answered(truth, scores.tumor_probability, checks & distance_ok, runtime.decision_threshold)
    result.update({"path": str(data_dir), "skipped": len(data.skipped),
                   "failed_image_checks": int((~checks).sum()),
                   "auc": _scored(truth, scores.tumor_probability, runtime.decision_threshold)["roc"]["auc"]
                   if truth.any() and (~truth).any() else None})
    return result


def _provenance(data_dir: Path, given: Mapping[str, Any] | None) -> dict[str, Any]:
    found: dict[str, Any] = {"kind": "folder", "path": str(data_dir.resolve())}
    if given:
        found.update(given)
    found["sha256"] = folder_digest(data_dir)
    return found


def train_mri(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    architecture: str = DEFAULT_ARCHITECTURE,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    patience: int = DEFAULT_PATIENCE,
    augment: bool = True,
    provenance: Mapping[str, Any] | None = None,
    evaluate: Mapping[str, Path] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train, export, calibrate and evaluate the tumor/healthy CNN; write the artifact and card.

    Parameters
    ----------
    data_dir : Path
        Holds ``yes/`` (tumor) and ``no/`` (healthy) images.
    out_dir : Path
        Created if missing; receives ``model.tflite``, ``ood.npz``, ``card.json``,
        ``confusion_matrix.png``, ``roc.png`` and ``split.csv``.
    seed : int
        Seeds the split, the augmentation and Keras (:func:`keras.utils.set_random_seed`).
    architecture : str
        A key of :data:`ARCHITECTURES`.
    epochs : int
        Most epochs; training stops after ``patience`` epochs without a lower validation loss,
        and the weights of the best epoch are kept.
    batch_size : int
    fractions : sequence of 3 floats
        Shares of train, validation and test images, summing to 1.
    patience : int
    augment : bool
        Train on augmented views (see :data:`ARCHITECTURES`). Validation and test images are
        never altered.
    provenance : mapping, optional
        Where the data came from, for the card (``{"kind": "generated", "generator": …, "seed":
        …}``); a folder's path and SHA-256 are always added.
    evaluate : mapping of str to Path, optional
        Other ``yes/`` + ``no/`` folders scored for the card only (``evaluations``), e.g. a
        held-out generator family; nothing is chosen on them.
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
        The LiteRT model's probabilities differ from Keras' by more than :data:`MAX_EXPORT_DIFF`.
    """
    if epochs < 1 or batch_size < 1 or patience < 1:
        raise ValueError(f"epochs={epochs}, batch_size={batch_size} and patience={patience} must be >= 1")
    if len(fractions) != 3:
        raise ValueError(f"fractions={tuple(fractions)!r} must be three shares: train, validation, test")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture={architecture!r} is unknown; use one of {sorted(ARCHITECTURES)}")
    design = ARCHITECTURES[architecture]
    if not progress:
        # Read by TensorFlow's C++ logging when it is first imported.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    started = time.monotonic()
    data = load_dataset(data_dir, input_size=design.input_size, progress=progress)
    source = _provenance(data_dir, provenance)
    loaded_at = time.monotonic()

    groups = dedup.near_duplicate_groups(data.hashes, dedup.MAX_DISTANCE)
    train_idx, val_idx, test_idx = dedup.split_groups(groups, data.targets, fractions, seed)
    parts = {"train": train_idx, "validation": val_idx, "test": test_idx}
    for name, idx in parts.items():
        if idx.size == 0:
            raise ValueError(f"the {name} split is empty: {len(data.files)} usable images in "
                             f"{len(np.unique(groups))} groups are too few for fractions {tuple(fractions)}")
    val_truth = data.targets[val_idx] == 1
    if val_truth.all() or not val_truth.any():
        raise ValueError(f"the validation split holds one class only ({int(val_truth.sum())} tumor of "
                         f"{val_truth.size}); add images of the other class or raise its fraction")

    with _native_output_quieted(not progress):
        import keras  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
        import tensorflow  # type: ignore[import-untyped,unused-ignore]  # noqa: F401  (its logs, now)

    y = data.targets.astype(np.float32)
    fitted = _fit(design, data.inputs[train_idx], y[train_idx], data.inputs[val_idx], y[val_idx], seed=seed,
                  epochs=epochs, batch_size=batch_size, patience=patience, augment=augment, progress=progress)
    trained_at = time.monotonic()
    exported = with_features_output(fitted.model)

    out_dir.mkdir(parents=True, exist_ok=True)
    with _native_output_quieted(not progress):
        flatbuffer = export_litert(exported)
        # The serving runtime itself (version 0: not in a store yet) gives every number below;
        # temperature 1 and no statistics yet: its raw logits and features are what is fitted.
        raw = LiteRtMriModel(flatbuffer, ModelVersion(MRI_MODEL, 0), DEFAULT_THRESHOLD, temperature=1.0)
        keras_logits, keras_features = exported.predict(data.inputs[test_idx][..., np.newaxis],
                                                        batch_size=256, verbose=0)
        outputs = {name: raw.outputs(data.inputs[idx]) for name, idx in parts.items()}
    logits = {name: found[0] for name, found in outputs.items()}
    # Two outputs (the runtime checked it at load), so every split has its features.
    features = {name: np.asarray(found[1], np.float64) for name, found in outputs.items()}

    temperature = fit_temperature(logits["validation"], val_truth)
    p = {name: sigmoid(values / temperature) for name, values in logits.items()}
    keras_p = sigmoid(np.asarray(keras_logits, np.float64).reshape(-1) / temperature)
    export_diff = float(np.max(np.abs(p["test"] - keras_p)))
    if not export_diff <= MAX_EXPORT_DIFF:
        raise ExportMismatch(f"LiteRT differs from Keras by {export_diff:.3g} on the test split "
                             f"(> {MAX_EXPORT_DIFF}); the export is not faithful")
    features_diff = float(np.max(np.abs(features["test"] - np.asarray(keras_features, np.float64))))

    statistics: FeatureStatistics = fit_feature_statistics(features["train"], data.targets[train_idx],
                                                           len(LABELS))
    distance = {name: mahalanobis_scores(values, statistics) for name, values in features.items()}
    ood_threshold = score_threshold(distance["validation"], OOD_PERCENTILE)
    threshold = balanced_threshold(val_truth, p["validation"], default=DEFAULT_THRESHOLD,
                                   bounds=THRESHOLD_BOUNDS)

    (out_dir / MODEL_FILE).write_bytes(flatbuffer)
    np.savez(out_dir / OOD_FILE, means=statistics.means, precision=statistics.precision)
    checks = np.array([reason is None for reason in data.unfamiliar])
    truth = {name: data.targets[idx] == 1 for name, idx in parts.items()}
    test_metrics = _scored(truth["test"], p["test"], threshold)
    val_metrics = _scored(truth["validation"], p["validation"], threshold)
    fpr, tpr, _ = roc_curve(truth["test"], p["test"])
    plot_confusion_matrix(test_metrics["confusion_matrix"], out_dir / "confusion_matrix.png",
                          title=f"{MRI_MODEL}: test split")
    plot_roc(fpr, tpr, test_metrics["roc"]["auc"], out_dir / "roc.png", title=f"{MRI_MODEL}: test split ROC")
    write_split(out_dir / "split.csv", data.files, [LABELS[t] for t in data.targets], groups, parts)

    summary = training_data_summary(source)
    evaluations: dict[str, Any] = {}
    if evaluate:
        served = LiteRtMriModel(flatbuffer, ModelVersion(MRI_MODEL, 0), threshold, temperature=temperature,
                                ood=statistics, ood_threshold=ood_threshold)
        with _native_output_quieted(not progress):
            evaluations = {name: evaluate_folder(served, folder) for name, folder in evaluate.items()}
    folder_counts = {label: int((data.targets == i).sum()) for i, label in enumerate(LABELS)}
    card: dict[str, Any] = {
        "name": MRI_MODEL,
        "task": "binary classification of a brain MRI slice: tumor or healthy, or uncertain when the "
                "slice is unlike the training data",
        "intended_use": INTENDED_USE,
        "limitations": LIMITS_GENERATED if summary.kind == "generated" else LIMITS_FOLDER,
        "training_data": {"kind": summary.kind, "summary": summary.summary},
        "architecture": {
            "name": design.name,
            "summary": design.summary,
            "parameters": int(fitted.model.count_params()),
            "framework": "keras",
        },
        "input": {
            "size": design.input_size,
            "shape": [design.input_size, design.input_size, 1],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "preprocessing": f"gray, resize {TARGET_SIZE}x{TARGET_SIZE}, blur, threshold, largest contour, "
                             f"crop at its extreme points, resize {design.input_size}x{design.input_size}, "
                             "scale to [0, 1]",
        },
        "output": {"kind": "logit", "temperature": temperature,
                   "probability": "sigmoid(logit / temperature)"},
        "labels": list(LABELS),
        "positive_label": LABELS[1],
        "decision_threshold": threshold,
        "decision_threshold_selection": {
            "rule": "best balanced accuracy of the calibrated probabilities on the validation split; "
                    f"0.5 unless beaten; within {list(THRESHOLD_BOUNDS)}",
            "default": DEFAULT_THRESHOLD,
            "validation_balanced_accuracy_at_default":
                _balanced_accuracy(val_truth, p["validation"], DEFAULT_THRESHOLD),
            "validation_balanced_accuracy_at_chosen":
                _balanced_accuracy(val_truth, p["validation"], threshold),
        },
        "calibration": {
            "method": "temperature scaling: the temperature with the lowest negative log-likelihood on "
                      "the validation split",
            "temperature": temperature,
            "temperature_bounds": list(TEMPERATURE_BOUNDS),
            "ece_bins": ECE_BINS,
            "validation": _calibration(val_truth, logits["validation"], temperature),
            "test": _calibration(truth["test"], logits["test"], temperature),
        },
        "out_of_distribution": {
            "method": "Mahalanobis distance of the penultimate features to the nearest class mean (class "
                      "means and one shared Ledoit-Wolf covariance of the training split), after image "
                      "checks on the decoded picture (colour, aspect, dark background and border)",
            "features": {"layer": FEATURES_LAYER, "dimension": statistics.dimension},
            "statistics_file": OOD_FILE,
            "threshold": ood_threshold,
            "threshold_rule": f"percentile {OOD_PERCENTILE:g} of the validation split's distances",
            "distance_percentiles": {name: {str(q): float(np.percentile(values, q)) for q in (50, 90, 99)}
                                     for name, values in distance.items()},
            "image_checks": {"max_coloured_fraction": familiarity.MAX_COLOURED_FRACTION,
                             "min_solidity": familiarity.MIN_SOLIDITY,
                             "min_entropy_bits": familiarity.MIN_ENTROPY_BITS,
                             "colour_chroma": familiarity.COLOUR_CHROMA,
                             "max_aspect": familiarity.MAX_ASPECT,
                             "min_dark_fraction": familiarity.MIN_DARK_FRACTION,
                             "min_dark_border": familiarity.MIN_DARK_BORDER,
                             "failed_by_training_data": int((~checks).sum())},
            "answered": {name: _answered(truth[name], p[name],
                                         checks[idx] & (distance[name] <= ood_threshold), threshold)
                         for name, idx in parts.items() if name != "train"},
        },
        "metrics": {"test": test_metrics, "validation": val_metrics},
        "evaluations": evaluations,
        "split": {
            "seed": seed,
            "fractions": [float(f) for f in fractions],
            "counts": split_counts(data.targets, LABELS, parts),
            "dedup": {"method": dedup.HASH_METHOD, "max_distance": dedup.MAX_DISTANCE,
                      **dedup.group_summary(groups)},
            "file": "split.csv",
        },
        "data": {
            "path": source["path"],
            "provenance": source,
            "layout": "yes/ = tumor, no/ = healthy",
            "counts": folder_counts,
            "skipped": {"count": len(data.skipped), "files": data.skipped},
        },
        "training": {
            "epochs_max": epochs,
            "epochs_run": len(fitted.history["loss"]),
            "best_epoch": fitted.best_epoch,
            "patience": patience,
            "selection": "lowest validation loss (weights of that epoch kept)",
            "batch_size": batch_size,
            "augmentation": design.augmentation if augment else None,
            "training_images": fitted.training_images,
            "optimizer": {"name": "adam", "learning_rate": LEARNING_RATE, "schedule":
                          design.schedule if augment and design.name != "reference" else "constant"},
            "loss": "binary_crossentropy on the logit",
            "history": fitted.history,
            "seconds": {"preprocessing": round(loaded_at - started, 2),
                        "fit": round(trained_at - loaded_at, 2),
                        "total": round(time.monotonic() - started, 2)},
        },
        "libraries": library_versions(*LIBRARIES),
        "export": {"format": "litert", "file": MODEL_FILE, "dtype": "float32", "batch": "dynamic",
                   "outputs": ["tumor logit (n, 1)", f"features (n, {statistics.dimension})"],
                   "max_abs_diff_vs_keras": export_diff, "max_abs_diff_allowed": MAX_EXPORT_DIFF,
                   "features_max_abs_diff_vs_keras": features_diff, "bytes": len(flatbuffer)},
        "plots": {"confusion_matrix": "confusion_matrix.png", "roc": "roc.png"},
        "created_at": rfc3339(utc_now()),
    }
    write_card(out_dir, card)
    logger.info("MRI model trained", extra={
        "out_dir": str(out_dir), "test_accuracy": test_metrics["accuracy"],
        "test_auc": test_metrics["roc"]["auc"], "epochs_run": card["training"]["epochs_run"],
        "temperature": temperature, "ood_threshold": ood_threshold})
    return card
