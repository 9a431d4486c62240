"""Generated training sets written to folders, laid out as the public sets are.

``generate_mri`` writes ``OUT_DIR/yes/*.png`` and ``OUT_DIR/no/*.png`` (the Kaggle brain-tumor
layout) plus ``metadata.csv`` with each slice's ground truth; ``generate_plankton`` writes
``OUT_DIR/frames/*.png``, ``labels.csv`` (one row per object) and
``OUT_DIR/objects/<category folder>/*.png``, one crop per object and one folder per class.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import cv2
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


def generate_plankton(out_dir: Path, frames: int, seed: int,
                      per_category: int = synthetic_plankton.DEFAULT_PER_CATEGORY,
                      height: int = synthetic_plankton.DEFAULT_SIDE,
                      width: int = synthetic_plankton.DEFAULT_SIDE) -> int:
    """Write ``frames`` frames, their ``labels.csv`` and one crop per object by category.

    Frame ``i`` is drawn from seed ``(seed, i)``. Returns the number of objects written.
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
    return len(rows)
