"""The ``zip`` answer of ``/segment/objects``: crops, masks, ``objects.csv`` and ``feature_set.txt``.

The CSV says exactly what the JSON answer says, in the same names: ``id``, the box as
``bbox_min_row, bbox_min_col, bbox_max_row, bbox_max_col`` (pixels, maxima exclusive), the
centroid as ``centroid_row, centroid_col``, then the features in ``feature_names`` order
(empty cell: not a finite number). The README lists the same columns; a test keeps them equal.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from specimen_imaging.codecs import encode_image
from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SET_VERSION

GEOMETRY_COLUMNS: tuple[str, ...] = (
    "id", "crop", "mask",
    "bbox_min_row", "bbox_min_col", "bbox_max_row", "bbox_max_col",
    "centroid_row", "centroid_col",
)
OBJECT_COLUMNS: tuple[str, ...] = (*GEOMETRY_COLUMNS, *FEATURE_NAMES)
"""The header of ``objects.csv``."""

CONVENTIONS = (
    "bbox: min_row, min_col, max_row, max_col in pixels of the frame; max_row and max_col are "
    "exclusive.\n"
    "centroid: row, col in pixels of the frame.\n"
)
"""How boxes and points are written, stated once for the JSON, the CSV and ``feature_set.txt``."""


def feature_set_text() -> str:
    """``feature_set.txt``: the version, the conventions, then one feature name per line."""
    comments = "".join(f"# {line}\n" for line in CONVENTIONS.splitlines())
    return f"feature_set_version={FEATURE_SET_VERSION}\n{comments}" + "\n".join(FEATURE_NAMES) + "\n"


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def bitmask_png(mask: npt.NDArray[np.bool_]) -> bytes:
    """A 1-bit PNG of a boolean mask (white = inside)."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(mask, dtype=bool)).save(out, format="PNG")
    return out.getvalue()


def objects_zip(rows: Sequence[dict[str, Any]],
                crops: Sequence[tuple[int, npt.NDArray[Any], npt.NDArray[np.bool_]]],
                with_masks: bool) -> bytes:
    """The archive of measured objects: ``rows`` as the JSON answer's objects, ``crops`` by id."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(OBJECT_COLUMNS)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for row, (object_id, crop, crop_mask) in zip(rows, crops, strict=True):
            crop_name = f"crops/object_{object_id:05d}.png"
            archive.writestr(crop_name, encode_image(crop, "png"))
            mask_name = ""
            if with_masks:
                mask_name = f"masks/object_{object_id:05d}.png"
                archive.writestr(mask_name, bitmask_png(crop_mask))
            box = row["bbox"]
            writer.writerow([
                object_id, crop_name, mask_name,
                box["min_row"], box["min_col"], box["max_row"], box["max_col"],
                repr(row["centroid"][0]), repr(row["centroid"][1]),
                *(_number(row["features"][name]) for name in FEATURE_NAMES),
            ])
        archive.writestr(zipfile.ZipInfo("objects.csv"), table.getvalue(),
                         compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("feature_set.txt", feature_set_text())
    return out.getvalue()
