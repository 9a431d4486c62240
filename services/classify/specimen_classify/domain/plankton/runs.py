"""A plankton run's settings and what it makes of each object: the crop (vignette) and the mask.

A run cuts every frame of a project as ``POST /classify/plankton`` cuts one: the same
:class:`~specimen_classify.domain.plankton.segmentation.PlanktonSegmentation` fields (same names,
bounds and messages) plus how each object's crop is drawn and which forest version classifies.
The validated settings are stored with the run with a hash (:func:`settings_hash`), so every
object knows how it was made.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import Field

from specimen_classify.domain.plankton.segmentation import PlanktonSegmentation
from specimen_imaging.arrays import to_gray

RUN_SETTINGS_VERSION = "1"
"""Bumped when a field's meaning changes, so that an old run's hash never matches a new one's."""
MAX_PADDING = 256
CONTOUR_COLOUR = (255, 0, 0)
"""RGB of the object's outline drawn on its crop when ``contours`` is on."""


class RunSettings(PlanktonSegmentation):
    """How a run cuts each frame (the ``/classify/plankton`` fields) and draws each object's crop."""

    padding: int = Field(
        8, ge=0, le=MAX_PADDING,
        description="Pixels of the frame kept around each object's bounding box in its crop "
        "(clipped at the frame's edges).")
    fade_background: float = Field(
        0.0, ge=0.0, le=1.0,
        description="How far the crop's pixels outside the object are faded to white: 0 keeps them, "
        "1 leaves the object alone on white (as MorphoCut's faded vignettes).")
    contours: bool = Field(False, description="Draw the object's outline on its crop (red; the crop is "
                                              "then RGB).")
    model_version: int | None = Field(
        None, ge=1, description="Which plankton forest version classifies; null: the active one when the "
        "run starts (stored with the run).")

    def segmentation(self) -> PlanktonSegmentation:
        """The segmentation fields alone, as ``/classify/plankton`` takes them."""
        return PlanktonSegmentation(**self.model_dump(include=set(PlanktonSegmentation.model_fields)))


def stored_run_settings(params: dict[str, Any]) -> RunSettings:
    """A stored run's settings as the run was made: a run stored before ``hysteresis_sigmas``
    existed thresholded without it, so its frames (a re-run of the failed ones included) still
    do, whatever the field's default is now.

    >>> stored_run_settings({"closing_radius": 3}).hysteresis_sigmas is None
    True
    >>> stored_run_settings({"hysteresis_sigmas": 5.0}).hysteresis_sigmas
    5.0
    """
    return RunSettings.model_validate({"hysteresis_sigmas": None, **params})


def settings_hash(settings: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a run's validated settings and their version.

    Examples
    --------
    >>> settings_hash({"b": 1, "a": 2}) == settings_hash({"a": 2, "b": 1})
    True
    """
    canonical = json.dumps({"version": RUN_SETTINGS_VERSION, "settings": settings},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Vignette:
    """One object's crop (uint8, gray or RGB) and its mask (bool, same height and width)."""

    crop: npt.NDArray[np.uint8]
    mask: npt.NDArray[np.bool_]
    origin: tuple[int, int]
    """``(row, col)`` of the crop's top-left corner in the frame."""


def _as_uint8(pixels: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    if pixels.dtype == np.uint8:
        return pixels
    return (pixels.astype(np.float64) / 257.0).round().astype(np.uint8)


def cut_vignette(pixels: npt.NDArray[Any], labels: npt.NDArray[Any], label: int,
                 bbox: tuple[int, int, int, int], settings: RunSettings) -> Vignette:
    """Object ``label``'s crop from the frame, ``settings.padding`` pixels around its bbox.

    Parameters
    ----------
    pixels : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        The decoded frame; the crop is its gray (8-bit), or RGB when ``contours`` is on.
    labels : ndarray of int, (h, w)
        The frame's label image (:func:`~.classify.classify_frame_objects`).
    bbox : (min_row, min_col, max_row, max_col)
        Max exclusive.

    Examples
    --------
    >>> frame = np.full((10, 10), 200, np.uint8); frame[4:6, 4:6] = 10
    >>> labels = np.zeros((10, 10), np.int32); labels[4:6, 4:6] = 1
    >>> v = cut_vignette(frame, labels, 1, (4, 4, 6, 6), RunSettings(padding=1, fade_background=1.0))
    >>> v.crop.tolist()[0], v.crop.tolist()[1], v.mask.sum(), v.origin
    ([255, 255, 255, 255], [255, 10, 10, 255], np.int64(4), (3, 3))
    """
    height, width = labels.shape
    r0, c0, r1, c1 = bbox
    pad = settings.padding
    top, left = max(r0 - pad, 0), max(c0 - pad, 0)
    bottom, right = min(r1 + pad, height), min(c1 + pad, width)
    mask = labels[top:bottom, left:right] == label
    gray = _as_uint8(to_gray(pixels[top:bottom, left:right]))
    if settings.fade_background > 0:
        faded = gray.astype(np.float64)
        faded[~mask] += (255.0 - faded[~mask]) * settings.fade_background
        gray = faded.round().clip(0, 255).astype(np.uint8)
    crop: npt.NDArray[np.uint8] = gray
    if settings.contours:
        crop = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
        outlines, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(crop, outlines, -1, CONTOUR_COLOUR, 1)
    return Vignette(crop=crop, mask=mask, origin=(top, left))
