"""Answers of the algorithm routes, apart from the domain's dataclasses.

The parameter models live in :mod:`specimen_segment.domain.operation_params`: the routes and
the library's kept segmentations read the same ones.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SET_VERSION

# Re-exported: bench/ scripts import the parameter models from here.
from specimen_segment.domain.operation_params import (  # noqa: F401
    BackgroundOptions,
    ObjectOptions,
    SuperpixelRequest,
    ThresholdRequest,
    VignettingOptions,
)

# Answers ---------------------------------------------------------------------------------


class EncodedImage(BaseModel):
    """A picture in a JSON answer: encoded (PNG unless stated), then base64."""

    media_type: str
    width: int
    height: int
    data: str = Field(description="Base64 of the encoded image.")


class PictureAnswer(BaseModel):
    """The JSON answer of a picture-producing route: the picture, its facts beside it."""

    image: EncodedImage


class ThresholdAnswer(PictureAnswer):
    threshold: float
    foreground_fraction: float
    object_count: int


class SelectionAnswer(PictureAnswer):
    ids: list[int] = Field(description="The superpixel ids kept, ascending.")
    pixel_count: int = Field(description="Pixels in the selection.")
    mask: str = Field(description="Base64 PNG of the selection's mask (0/255).")


class BackgroundAnswer(PictureAnswer):
    foreground_fraction: float


class VignettingAnswer(PictureAnswer):
    sigma: float


class ConvertAnswer(PictureAnswer):
    source_format: str
    source_mode: str


class StoredPictureAnswer(PictureAnswer):
    """A kept picture in JSON; the facts are those of the operation that made it."""

    model_config = ConfigDict(extra="allow")


class LabelEncoding(BaseModel):
    encoding: Literal["rle", "base64"]
    dtype: Literal["uint16"] = "uint16"
    shape: tuple[int, int]
    values: list[int] | None = Field(None, description="rle: the value of each run, raster order.")
    lengths: list[int] | None = Field(None, description="rle: the length of each run.")
    data: str | None = Field(None, description="base64: little-endian uint16, raster order.")


class SuperpixelsAnswer(PictureAnswer):
    """``image`` is the picture asked for: the 16-bit label PNG or the boundary overlay."""

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
