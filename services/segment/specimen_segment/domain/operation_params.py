"""The parameters of the operations: one model per operation, shared by the algorithm routes
(JSON body, form fields or query string) and the library's kept segmentations.

Their bounds are constants, independent of the settings, so that a kept segmentation means the
same thing on every replica. The threshold and object fields are :mod:`specimen_imaging.options`,
which classify reads too.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator

from specimen_imaging.codecs import DEFAULT_JPEG_QUALITY, MAX_QUALITY, MIN_QUALITY
from specimen_imaging.options import ExtractionOptions, Params, ThresholdOptions, comma_separated
from specimen_segment.domain.superpixels import SlicParams

MAX_SEGMENTS = 10_000
"""Labels travel as 16-bit PNG, so ids must stay well below 65535 (the 'no superpixel' value)."""
MAX_COMPACTNESS = 1000.0
MAX_SLIC_SIGMA = 100.0
MAX_SLIC_ITERATIONS = 100
MAX_PADDING = 1024
MAX_GRABCUT_ITERATIONS = 20
MAX_FLATFIELD_SIGMA = 1000.0


Background = Literal["white", "transparent"]


class ThresholdRequest(ThresholdOptions):
    result: Literal["mask", "overlay", "cutout"] = Field(
        "mask", description="The picture answered: the mask, contours on the image, or a cut-out."
    )
    background: Background = Field("white", description="Behind a cut-out.")


class SuperpixelOptions(Params):
    n_segments: int = Field(100, ge=1, le=MAX_SEGMENTS, description="About how many superpixels.")
    compactness: float = Field(10.0, gt=0, le=MAX_COMPACTNESS, description="Higher is squarer.")
    sigma: float = Field(0.0, ge=0, le=MAX_SLIC_SIGMA, description="Gaussian pre-smoothing, pixels.")
    iterations: int = Field(10, ge=1, le=MAX_SLIC_ITERATIONS, description="k-means iterations.")

    def slic_params(self, mask: npt.NDArray[np.bool_] | None = None) -> SlicParams:
        return SlicParams(
            n_segments=self.n_segments,
            compactness=self.compactness,
            sigma=self.sigma,
            iterations=self.iterations,
            mask=mask,
        )


class SuperpixelRequest(SuperpixelOptions):
    result: Literal["labels", "overlay"] = Field(
        "labels",
        description="16-bit label image (id per pixel, 65535 outside the mask) or "
        "boundaries drawn on the image.",
    )
    labels_encoding: Literal["rle", "base64"] = Field(
        "rle", description="JSON only: run-length (values, lengths) or base64 of uint16 LE."
    )


class SelectionRequest(SuperpixelOptions):
    ids: list[int] = Field(
        min_length=1,
        max_length=MAX_SEGMENTS,
        description="Superpixel ids to keep (from /superpixels, same parameters).",
    )
    result: Literal["cutout", "mask"] = "cutout"
    background: Background = "white"

    _ids = field_validator("ids", mode="before")(comma_separated)


class ObjectOptions(ExtractionOptions):
    """Objects of a threshold mask (or of an uploaded mask: the threshold fields are unused)."""

    padding: int = Field(0, ge=0, le=MAX_PADDING, description="Pixels around each crop.")
    fade_background: float = Field(0.0, ge=0, le=1, description="Crops: blend non-object to white.")
    include_crops: bool = Field(False, description="JSON: each object's crop as base64 PNG.")
    include_masks: bool = Field(False, description="JSON: each object's 1-bit mask as base64 PNG.")
    include_overlay: bool = Field(False, description="JSON: contour overlay of the frame (PNG).")


class BackgroundOptions(ThresholdOptions):
    """GrabCut seeded from the threshold mask."""

    iterations: int = Field(5, ge=1, le=MAX_GRABCUT_ITERATIONS, description="GrabCut iterations.")
    background: Background = Field("transparent", description="What replaces the background.")


class VignettingOptions(Params):
    sigma: float = Field(
        50.0, gt=0, le=MAX_FLATFIELD_SIGMA, description="Background blur in pixels; larger than the objects."
    )


class ConvertOptions(Params):
    """Conversion takes the output format and, for JPEG and WebP, a quality."""

    quality: int | None = Field(
        None, ge=MIN_QUALITY, le=MAX_QUALITY,
        description=f"JPEG/WebP only, {MIN_QUALITY} to {MAX_QUALITY}. Without it JPEG is written at "
                    f"{DEFAULT_JPEG_QUALITY} and WebP losslessly; with it WebP is lossy.")
