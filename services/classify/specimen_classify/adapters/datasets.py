"""Generated training sets written to folders, laid out as the public sets are.

``generate_mri`` writes ``OUT_DIR/yes/*.png`` and ``OUT_DIR/no/*.png`` (the Kaggle brain-tumor
layout) plus ``metadata.csv`` with each slice's ground truth; ``generate_plankton`` writes
``OUT_DIR/frames/*.png``, ``labels.csv`` (one row per object) and
``OUT_DIR/objects/<category folder>/*.png``, one crop per object and one folder per class, plus
generated vignettes (``vignette*.jpg|png``) in the same folders.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_classify.domain import synthetic_mri, synthetic_plankton

MRI_METADATA_FIELDS = ("file", "has_tumor", "tumor_row", "tumor_col", "tumor_radius",
                       "brain_min_row", "brain_min_col", "brain_max_row", "brain_max_col",
                       "head_min_row", "head_min_col", "head_max_row", "head_max_col")
PLANKTON_LABEL_FIELDS = ("frame", "object_id", "category", "bbox_min_row", "bbox_min_col",
                         "bbox_max_row", "bbox_max_col", "centre_row", "centre_col", "area", "crop")


def _write_png(path: Path, image: npt.NDArray[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def generate_mri(out_dir: Path, count: int, seed: int, size: int = synthetic_mri.DEFAULT_SIZE) -> int:
    """Write ``count`` tumor slices to ``out_dir/yes`` and ``count`` healthy ones to ``out_dir/no``.

    Slice ``i`` of a class is drawn from seed ``(seed, 1 if tumor else 0, i)``, so a set grows
    without changing the slices it already has. Returns the number of files written.
    """
    if count < 1:
        raise ValueError(f"count={count} is out of range; use an integer >= 1")
    rows: list[dict[str, object]] = []
    for folder, prefix, has_tumor in (("yes", "Y", True), ("no", "N", False)):
        for index in range(count):
            drawn = synthetic_mri.mri_slice((seed, int(has_tumor), index), has_tumor, size)
            name = f"{folder}/{prefix}{index:05d}.png"
            _write_png(out_dir / name, drawn.image)
            centre = drawn.tumor_centre or (None, None)
            rows.append(dict(zip(MRI_METADATA_FIELDS, (
                name, int(has_tumor), _rounded(centre[0]), _rounded(centre[1]), _rounded(drawn.tumor_radius),
                *drawn.brain_box, *drawn.head_box), strict=True)))
    with (out_dir / "metadata.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, MRI_METADATA_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def _rounded(value: float | None) -> float | str:
    return "" if value is None else round(value, 2)


def write_vignette(path: Path, vignette: synthetic_plankton.PlanktonVignette) -> Path:
    """Store a vignette as instruments do: JPEG at its quality, or PNG; RGB or gray. Returns the path."""
    image = vignette.image
    if image.ndim == 3:
        image = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), np.uint8)
    path = path.with_suffix(".jpg" if vignette.jpeg else ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, vignette.jpeg_quality] if vignette.jpeg else []
    if not cv2.imwrite(str(path), image, params):
        raise OSError(f"could not write {path}")
    return path


def generate_vignettes(out_dir: Path, per_category: int, seed: int,
                       variety: synthetic_plankton.VignetteVariety = synthetic_plankton.TRAINING_VARIETY,
                       prefix: str = "vignette") -> int:
    """Write ``per_category`` vignettes of each category to ``out_dir/<category folder>/``.

    Vignette ``i`` of category ``k`` (index in :data:`~synthetic_plankton.CATEGORIES`) is drawn
    from seed ``(seed, k + 1, i)``, never a frame's seed. Returns the number written.
    """
    if per_category < 0:
        raise ValueError(f"per_category={per_category} is out of range; use an integer >= 0")
    for k, category in enumerate(synthetic_plankton.CATEGORIES):
        folder = out_dir / synthetic_plankton.FOLDER_NAMES[category]
        for index in range(per_category):
            drawn = synthetic_plankton.plankton_vignette((seed, k + 1, index), category, variety)
            write_vignette(folder / f"{prefix}{index:05d}", drawn)
    return per_category * len(synthetic_plankton.CATEGORIES)


VIGNETTES_PER_FRAME = 15
"""Vignettes of each category written per frame by :func:`generate_plankton` (by default): the
vignettes, in all their variety, outnumber the frame's tight crops (40 per frame, 8 of each
category) almost two to one, so the forest learns the organisms more than one frame's look."""

CALIBRATION_PER_FRAME = 5
"""Calibration vignettes of each category per training frame (:func:`generate_calibration`)."""
CALIBRATION_SEED_OFFSET = 5000
"""Calibration vignettes are drawn from seed ``seed + CALIBRATION_SEED_OFFSET``: never a training one."""


def generate_calibration(out_dir: Path, frames: int, seed: int) -> int:
    """Write the calibration vignettes of a set of ``frames`` training frames to ``out_dir``.

    :data:`CALIBRATION_PER_FRAME` x ``frames`` vignettes of each category, of
    :data:`~synthetic_plankton.CALIBRATION_VARIETY` (shifted settings), from seed ``seed +``
    :data:`CALIBRATION_SEED_OFFSET`: the trainer chooses the unclear threshold on them with its
    validation split, and never trains on them. Returns the number written.
    """
    return generate_vignettes(out_dir, CALIBRATION_PER_FRAME * frames, seed + CALIBRATION_SEED_OFFSET,
                              synthetic_plankton.CALIBRATION_VARIETY, prefix="calibration")


def generate_plankton(out_dir: Path, frames: int, seed: int,
                      per_category: int = synthetic_plankton.DEFAULT_PER_CATEGORY,
                      height: int = synthetic_plankton.DEFAULT_SIDE,
                      width: int = synthetic_plankton.DEFAULT_SIDE,
                      vignettes_per_category: int | None = None) -> int:
    """Write ``frames`` frames, their ``labels.csv``, one crop per object by category, and vignettes.

    Frame ``i`` is drawn from seed ``(seed, i)``. The class folders also receive
    ``vignettes_per_category`` vignettes of each category (default
    :data:`VIGNETTES_PER_FRAME` x ``frames``; :func:`generate_vignettes`), so a model trained on
    ``objects/`` sees both the frame's tight crops and the variety of real vignettes. Returns
    the number of frame objects written.
    """
    if frames < 1:
        raise ValueError(f"frames={frames} is out of range; use an integer >= 1")
    counts = dict.fromkeys(synthetic_plankton.CATEGORIES, per_category)
    rows: list[dict[str, object]] = []
    for index in range(frames):
        frame = synthetic_plankton.plankton_frame((seed, index), counts, height, width)
        frame_name = f"frames/frame{index:05d}.png"
        _write_png(out_dir / frame_name, frame.image)
        for record in frame.objects:
            folder = synthetic_plankton.FOLDER_NAMES[record.category]
            crop_name = f"objects/{folder}/frame{index:05d}_{record.object_id:04d}.png"
            _write_png(out_dir / crop_name, synthetic_plankton.object_crop(frame, record.object_id))
            rows.append(dict(zip(PLANKTON_LABEL_FIELDS, (
                frame_name, record.object_id, record.category, *record.bbox,
                round(record.centre[0], 2), round(record.centre[1], 2), record.area, crop_name),
                strict=True)))
    with (out_dir / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, PLANKTON_LABEL_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    vignettes = VIGNETTES_PER_FRAME * frames if vignettes_per_category is None else vignettes_per_category
    generate_vignettes(out_dir / "objects", vignettes, seed)
    return len(rows)
