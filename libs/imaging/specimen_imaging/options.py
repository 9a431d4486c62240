"""The object pipeline's parameters as request schemas, one set of names and bounds for every route.

Segment's ``/threshold``, ``/objects`` and ``/background`` and classify's plankton route read
these fields (JSON body, form fields or query string) with the same names, defaults, bounds
and 422 messages. The bounds are constants, independent of any service's settings, so that a
stored segmentation means the same thing on every replica.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from specimen_imaging.extraction import extract_objects
from specimen_imaging.flatfield import MAX_SIGMA
from specimen_imaging.measurements import FEATURE_SET_VERSION, ObjectMeasurements
from specimen_imaging.objects import Objects
from specimen_imaging.thresholding import MAX_RADIUS, ThresholdParams
from specimen_kit.errors import InvalidParameter

MAX_AREA = 1_000_000_000
MAX_PIXEL_VALUE = 65535.0
MAX_HYSTERESIS_SIGMAS = 100.0


class Params(BaseModel):
    """Base of every parameter set: unknown names are refused, not ignored, and a number field
    refuses ``true``/``false`` (which pydantic's lax mode reads as 1/0; strict mode would also
    refuse the strings that form fields and query strings carry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_other_types(cls, values: Any) -> Any:
        if isinstance(values, Mapping):
            for name, value in values.items():
                field = cls.model_fields.get(name)
                if isinstance(value, bool) and field is not None and field.annotation is not bool:
                    raise ValueError(f"{name}={value!r} is invalid: {name} is not a boolean")
        return values


P = TypeVar("P", bound=Params)


def comma_separated(value: Any) -> Any:
    """A list field sent as a form field or query string, ``"1,2,3"`` (or repeated, each part
    possibly holding commas), as the list of its non-blank parts; any other value as it is (a
    ``mode="before"`` field validator: the field's own type then checks each part).

    >>> comma_separated(" 1, 2,,3 "), comma_separated(["1,2", "3"]), comma_separated([4])
    (['1', '2', '3'], ['1', '2', '3'], [4])
    """
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and any(isinstance(v, str) and "," in v for v in value):
        return [p.strip() for v in value for p in str(v).split(",") if p.strip()]
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_params(model: type[P], values: Mapping[str, Any]) -> P:
    """``model`` built from ``values``; a 422 :class:`InvalidParameter` that names each bad value.

    Examples
    --------
    >>> validate_params(ThresholdOptions, {"opening_radius": "2"}).opening_radius
    2
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
    """How the foreground mask is computed (see ``specimen_imaging.thresholding.ThresholdParams``)."""

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


class ExtractionOptions(ThresholdOptions):
    """Objects of a threshold mask (or of a given mask: the threshold fields are unused then).

    ``min_area`` and ``max_area`` select objects by their filled area (holes included).
    """

    keep_border: bool = Field(True, description="Keep objects touching the frame's border.")
    flat_field_sigma: float | None = Field(
        None,
        gt=0,
        le=MAX_SIGMA,
        description="Correct vignetting first (divide by a Gaussian background of this blur, pixels, "
        "larger than the objects); objects are found and measured in the corrected image. Off by default.",
    )
    hysteresis_sigmas: float | None = Field(
        None,
        gt=0,
        le=MAX_HYSTERESIS_SIGMAS,
        description="Hysteresis thresholding: the mask is taken this many noise deviations (1.4826 MAD) "
        "from the background's median towards the objects, never past the threshold, and only its objects "
        "holding a pixel past the threshold are kept (faint strands stay attached). Off by default.",
    )

    def extract(
        self,
        pixels: npt.NDArray[Any],
        mask: npt.NDArray[np.bool_] | None = None,
        feature_set: str = FEATURE_SET_VERSION,
    ) -> tuple[Objects, ObjectMeasurements]:
        """:func:`~specimen_imaging.extraction.extract_objects` with these options (and feature set)."""
        return extract_objects(
            pixels,
            self.threshold_params(with_area_filter=False),
            min_area=self.min_area,
            max_area=self.max_area,
            keep_border=self.keep_border,
            mask=mask,
            flat_field_sigma=self.flat_field_sigma,
            feature_set=feature_set,
            hysteresis_sigmas=None if mask is not None else self.hysteresis_sigmas,
        )
