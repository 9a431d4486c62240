"""Parameters and answers of the algorithm routes, apart from the domain's dataclasses.

The parameter models are shared by the routes (JSON body, form fields or query string) and by
:func:`specimen_segment.operations.run_operation`; their bounds are constants, independent of
the settings, so that a stored segmentation means the same thing on every replica.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from specimen_segment.domain.errors import InvalidParameter
from specimen_segment.domain.measurements import FEATURE_NAMES, FEATURE_SET_VERSION
from specimen_segment.domain.superpixels import SlicParams
from specimen_segment.domain.thresholding import MAX_RADIUS, ThresholdParams

MAX_AREA = 1_000_000_000
MAX_SEGMENTS = 10_000
"""Labels travel as 16-bit PNG, so ids must stay well below 65535 (the 'no superpixel' value)."""
MAX_COMPACTNESS = 1000.0
MAX_SLIC_SIGMA = 100.0
MAX_SLIC_ITERATIONS = 100
MAX_PADDING = 1024
MAX_GRABCUT_ITERATIONS = 20
MAX_FLATFIELD_SIGMA = 1000.0
MAX_PIXEL_VALUE = 65535.0


class Params(BaseModel):
    """Base of every parameter set: unknown names are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=Params)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_params(model: type[P], values: Mapping[str, Any]) -> P:
    """``model`` built from ``values``; a 422 :class:`InvalidParameter` that names each bad value.

    Examples
    --------
    >>> validate_params(SuperpixelOptions, {"n_segments": "50"}).n_segments
    50
    """
    try:
        return model.model_validate(dict(values))
    except ValidationError as error:
        problems = []
        details = []
        for e in error.errors(include_url=False):
            where = ".".join(str(p) for p in e["loc"]) or "parameters"
            message = str(e["msg"])
            if e["type"] == "extra_forbidden":
                text = f"{where} is not a parameter of this operation"
            elif e["type"] == "missing":
                text = f"{where} is required"
            elif e["loc"]:
                text = f"{where}={_shown(e.get('input'))} is invalid: {message}"
            else:
                text = message.removeprefix("Value error, ")
            details.append(text)
            problems.append({"location": where, "message": text, "type": str(e["type"])})
        raise InvalidParameter("; ".join(details), errors=problems) from None


class ThresholdOptions(Params):
    """How the foreground mask is computed (see ``domain.thresholding.ThresholdParams``)."""

    method: Literal["otsu", "quantile", "fixed"] = Field(
        "otsu", description="Otsu's threshold, a quantile of the gray values, or a fixed value."
    )
    quantile: float = Field(0.5, gt=0, lt=1, description="Used by method=quantile.")
    value: float | None = Field(
        None, ge=0, le=MAX_PIXEL_VALUE, description="The threshold for method=fixed, in gray units."
    )
    polarity: Literal["light-on-dark", "dark-on-light"] = Field(
        "light-on-dark", description="light-on-dark keeps pixels > t; dark-on-light keeps <= t."
    )
    opening_radius: int = Field(0, ge=0, le=MAX_RADIUS, description="Pixels; 0 skips the opening.")
    closing_radius: int = Field(0, ge=0, le=MAX_RADIUS, description="Pixels; 0 skips the closing.")
    fill_holes: bool = False
    min_area: int = Field(0, ge=0, le=MAX_AREA, description="Smallest object kept, in pixels.")
    max_area: int | None = Field(None, ge=1, le=MAX_AREA, description="Largest object kept.")

    @model_validator(mode="after")
    def _consistent(self) -> ThresholdOptions:
        if self.method == "fixed" and self.value is None:
            raise ValueError("method=fixed needs a value; pass value=<threshold>")
        if self.max_area is not None and self.max_area < self.min_area:
            raise ValueError(
                f"max_area={self.max_area} is below min_area={self.min_area}; use max_area >= min_area"
            )
        return self

    def threshold_params(self, *, with_area_filter: bool = True) -> ThresholdParams:
        return ThresholdParams(
            method=self.method,
            quantile=self.quantile,
            value=self.value,
            polarity=self.polarity,
            opening_radius=self.opening_radius,
            closing_radius=self.closing_radius,
            fill_holes=self.fill_holes,
            min_area=self.min_area if with_area_filter else 0,
            max_area=self.max_area if with_area_filter else None,
        )


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

    @field_validator("ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and any(isinstance(v, str) and "," in v for v in value):
            return [p.strip() for v in value for p in str(v).split(",") if p.strip()]
        return value


class ObjectOptions(ThresholdOptions):
    """Objects of a threshold mask (or of an uploaded mask: the threshold fields are unused)."""

    padding: int = Field(0, ge=0, le=MAX_PADDING, description="Pixels around each crop.")
    keep_border: bool = Field(True, description="Keep objects touching the frame's border.")
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
    """Conversion takes no parameter besides the output format."""


# Answers ---------------------------------------------------------------------------------


class ThresholdSummary(BaseModel):
    threshold: float
    foreground_fraction: float
    object_count: int


class EncodedImage(BaseModel):
    media_type: str
    width: int
    height: int
    data: str = Field(description="Base64 of the encoded image.")


class ImageAnswer(EncodedImage):
    """An image in JSON, with the facts of the operation that made it."""

    metadata: dict[str, Any] = Field(default_factory=dict)


class LabelEncoding(BaseModel):
    encoding: Literal["rle", "base64"]
    dtype: Literal["uint16"] = "uint16"
    shape: tuple[int, int]
    values: list[int] | None = Field(None, description="rle: the value of each run, raster order.")
    lengths: list[int] | None = Field(None, description="rle: the length of each run.")
    data: str | None = Field(None, description="base64: little-endian uint16, raster order.")


class SuperpixelsAnswer(BaseModel):
    segment_count: int
    outside_value: int = Field(65535, description="Label of pixels outside the mask.")
    labels: LabelEncoding
    centroids: list[tuple[float, float]] = Field(description="(row, col) of superpixel id i.")


class BoundingBox(BaseModel):
    min_row: int
    min_col: int
    max_row: int = Field(description="Exclusive.")
    max_col: int = Field(description="Exclusive.")


class MeasuredObject(BaseModel):
    id: int
    bbox: BoundingBox
    centroid: tuple[float, float]
    features: dict[str, float | None]
    crop: str | None = Field(None, description="Base64 PNG crop (with padding).")
    mask: str | None = Field(None, description="Base64 1-bit PNG mask of the crop's box.")


class ObjectsAnswer(BaseModel):
    count: int
    feature_set_version: str = FEATURE_SET_VERSION
    feature_names: list[str] = Field(default_factory=lambda: list(FEATURE_NAMES))
    objects: list[MeasuredObject]
    overlay: str | None = Field(None, description="Base64 PNG contour overlay of the frame.")
