"""The algorithms as named operations on pixels: one entry point for the routes and the library.

:func:`run_operation` validates a plain parameter mapping through the parameter models (a 422
:class:`~specimen_kit.errors.InvalidParameter` naming each bad value), runs the
domain function and answers an :class:`OperationOutput`: the result picture, its natural
media type and a JSON-able summary. The ``*_result`` functions below are what the algorithm
routes call; they give the routes the richer intermediate values (labels, measurements).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from specimen_imaging.flatfield import flat_field_correct
from specimen_imaging.measurements import FEATURE_NAMES, FEATURE_SET_VERSION, ObjectMeasurements
from specimen_imaging.objects import Objects, object_crop
from specimen_imaging.options import validate_params
from specimen_imaging.thresholding import MaskResult, cutout, overlay_contours, threshold_mask
from specimen_kit.errors import InvalidParameter
from specimen_segment.domain.background import grabcut_foreground
from specimen_segment.domain.operation_params import (
    BackgroundOptions,
    ConvertOptions,
    ObjectOptions,
    SelectionRequest,
    SuperpixelRequest,
    ThresholdRequest,
    VignettingOptions,
)
from specimen_segment.domain.superpixels import (
    boundary_overlay,
    select_superpixels,
    slic_labels,
    superpixel_centroids,
)

LABEL_OUTSIDE = 65535
"""Value of pixels outside the mask in a 16-bit label image."""
IMAGE_FORMATS: tuple[str, ...] = ("png", "jpeg", "gif", "webp", "tiff", "bmp")
SIXTEEN_BIT_FORMATS: tuple[str, ...] = ("png", "tiff")
"""The formats that keep a 16-bit label image exact."""


@dataclass(frozen=True)
class OperationOutput:
    """What one operation made.

    Attributes
    ----------
    image : ndarray
        The result picture: mask (uint8 0/255), 16-bit label image, RGB overlay, RGB(A) cut-out
        or corrected image.
    media_type : str
        The picture's natural format (``image/png`` for every operation here).
    summary : dict
        JSON-able facts (threshold, counts, the per-object table, …).
    quality : int, optional
        JPEG/WebP quality asked for (``convert``); None for the encoder's default.
    """

    image: npt.NDArray[Any]
    media_type: str
    summary: dict[str, Any]
    quality: int | None = None


# Operations as the routes use them ---------------------------------------------------------


def threshold_result(pixels: npt.NDArray[Any], opts: ThresholdRequest) -> tuple[npt.NDArray[Any], MaskResult]:
    """The picture asked for by ``opts.result`` and the mask it came from."""
    found = threshold_mask(pixels, opts.threshold_params())
    if opts.result == "overlay":
        picture = overlay_contours(pixels, found.mask)
    elif opts.result == "cutout":
        picture = cutout(pixels, found.mask, opts.background)
    else:
        picture = found.mask.astype(np.uint8) * np.uint8(255)
    return picture, found


def threshold_summary(found: MaskResult) -> dict[str, Any]:
    return {
        "threshold": found.threshold,
        "foreground_fraction": found.foreground_fraction,
        "object_count": found.object_count,
    }


def labels_uint16(labels: npt.NDArray[np.int32]) -> npt.NDArray[np.uint16]:
    """Superpixel ids as uint16, with :data:`LABEL_OUTSIDE` for pixels outside the mask."""
    if labels.size and int(labels.max()) >= LABEL_OUTSIDE:
        raise InvalidParameter(
            f"{int(labels.max()) + 1} superpixels do not fit a 16-bit label image; ask for fewer"
        )
    out: npt.NDArray[np.uint16] = np.where(labels < 0, LABEL_OUTSIDE, labels).astype(np.uint16)
    return out


def superpixel_summary(labels: npt.NDArray[np.int32]) -> dict[str, Any]:
    centroids = superpixel_centroids(labels) if labels.size and labels.max() >= 0 else np.zeros((0, 2))
    return {
        "segment_count": int(centroids.shape[0]),
        "centroids": [(round(float(r), 3), round(float(c), 3)) for r, c in centroids],
    }


def superpixels_result(
    pixels: npt.NDArray[Any], opts: SuperpixelRequest, mask: npt.NDArray[np.bool_] | None = None
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int32]]:
    """The picture asked for by ``opts.result`` (labels or overlay) and the labels."""
    labels = slic_labels(pixels, opts.slic_params(mask))
    picture = boundary_overlay(pixels, labels) if opts.result == "overlay" else labels_uint16(labels)
    return picture, labels


def objects_result(
    pixels: npt.NDArray[Any], opts: ObjectOptions, mask: npt.NDArray[np.bool_] | None = None
) -> tuple[Objects, ObjectMeasurements]:
    """Objects of ``mask`` (or of the threshold mask of ``opts``) and their measurements.

    The shared pipeline (:func:`specimen_imaging.extraction.extract_objects`), the one the
    plankton classifier trains and predicts on.
    """
    return opts.extract(pixels, mask)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def object_rows(measured: ObjectMeasurements) -> list[dict[str, Any]]:
    """One JSON-able dict per object: id, bbox, centroid, features keyed by FEATURE_NAMES."""
    rows = []
    for i in range(measured.labels.shape[0]):
        r0, c0, r1, c1 = (int(v) for v in measured.bboxes[i])
        rows.append(
            {
                "id": int(measured.labels[i]),
                "bbox": {"min_row": r0, "min_col": c0, "max_row": r1, "max_col": c1},
                "centroid": (float(measured.centroids[i, 0]), float(measured.centroids[i, 1])),
                "features": {
                    name: _finite(v) for name, v in zip(FEATURE_NAMES, measured.features[i], strict=True)
                },
            }
        )
    return rows


def object_crops(
    pixels: npt.NDArray[Any], objects: Objects, padding: int = 0, fade_background: float = 0.0
) -> list[tuple[int, npt.NDArray[Any], npt.NDArray[np.bool_]]]:
    """``(id, crop, crop mask)`` per object: the bbox grown by ``padding`` (clipped to the frame).

    The mask covers the same box as the crop; only the object's own pixels are inside.
    """
    h, w = objects.labels.shape
    out = []
    for i, (r0, c0, r1, c1) in enumerate(objects.bboxes.tolist()):
        r0, c0 = max(r0 - padding, 0), max(c0 - padding, 0)
        r1, c1 = min(r1 + padding, h), min(c1 + padding, w)
        inside = objects.labels[r0:r1, c0:c1] == i + 1
        crop = object_crop(pixels[r0:r1, c0:c1], inside, (0, 0, r1 - r0, c1 - c0), 0, fade_background)
        out.append((i + 1, crop, inside))
    return out


def objects_summary(measured: ObjectMeasurements) -> dict[str, Any]:
    return {
        "count": int(measured.labels.shape[0]),
        "feature_set_version": FEATURE_SET_VERSION,
        "feature_names": list(FEATURE_NAMES),
        "objects": object_rows(measured),
    }


def background_result(pixels: npt.NDArray[Any], opts: BackgroundOptions) -> tuple[npt.NDArray[Any], float]:
    """The foreground cut out (RGBA on transparent, or RGB on white) and its area fraction."""
    seed = threshold_mask(pixels, opts.threshold_params()).mask
    foreground = grabcut_foreground(pixels, seed, opts.iterations)
    return cutout(pixels, foreground, opts.background), float(foreground.mean())


def vignetting_result(pixels: npt.NDArray[Any], opts: VignettingOptions) -> npt.NDArray[Any]:
    return flat_field_correct(pixels, opts.sigma)


def selection_result(
    pixels: npt.NDArray[Any], opts: SelectionRequest, mask: npt.NDArray[np.bool_] | None = None
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """The chosen superpixels cut out (or their mask, by ``opts.result``) and the mask."""
    labels = slic_labels(pixels, opts.slic_params(mask))
    cut, selected = select_superpixels(pixels, labels, opts.ids, opts.background)
    picture = cut if opts.result == "cutout" else selected.astype(np.uint8) * np.uint8(255)
    return picture, selected


def selection_summary(opts: SelectionRequest, selected: npt.NDArray[np.bool_]) -> dict[str, Any]:
    return {"ids": sorted(set(opts.ids)), "pixel_count": int(selected.sum())}


# The registry -------------------------------------------------------------------------------


def _threshold(pixels: npt.NDArray[Any], params: Mapping[str, Any]) -> OperationOutput:
    picture, found = threshold_result(pixels, validate_params(ThresholdRequest, params))
    return OperationOutput(picture, "image/png", threshold_summary(found))


def _superpixels(pixels: npt.NDArray[Any], params: Mapping[str, Any]) -> OperationOutput:
    opts = validate_params(SuperpixelRequest, params)
    picture, labels = superpixels_result(pixels, opts)
    return OperationOutput(picture, "image/png", superpixel_summary(labels))


def _objects(pixels: npt.NDArray[Any], params: Mapping[str, Any]) -> OperationOutput:
    opts = validate_params(ObjectOptions, params)
    objects, measured = objects_result(pixels, opts)
    return OperationOutput(
        overlay_contours(pixels, objects.labels > 0), "image/png", objects_summary(measured)
    )


def _background(pixels: npt.NDArray[Any], params: Mapping[str, Any]) -> OperationOutput:
    picture, fraction = background_result(pixels, validate_params(BackgroundOptions, params))
    return OperationOutput(picture, "image/png", {"foreground_fraction": fraction})


def _vignetting(pixels: npt.NDArray[Any], params: Mapping[str, Any]) -> OperationOutput:
    opts = validate_params(VignettingOptions, params)
    return OperationOutput(vignetting_result(pixels, opts), "image/png", {"sigma": opts.sigma})


def _selection(pixels: npt.NDArray[Any], params: Mapping[str, Any]) -> OperationOutput:
    opts = validate_params(SelectionRequest, params)
    picture, selected = selection_result(pixels, opts)
    return OperationOutput(picture, "image/png", selection_summary(opts, selected))


def _convert(pixels: npt.NDArray[Any], params: Mapping[str, Any]) -> OperationOutput:
    opts = validate_params(ConvertOptions, params)
    return OperationOutput(pixels, "image/png", {}, quality=opts.quality)


OPERATIONS: Mapping[str, Callable[[npt.NDArray[Any], Mapping[str, Any]], OperationOutput]] = {
    "threshold": _threshold,
    "superpixels": _superpixels,
    "selection": _selection,
    "objects": _objects,
    "background": _background,
    "vignetting": _vignetting,
    "convert": _convert,
}
"""Operation name → implementation; the names are those of ``POST /images/{id}/segmentations``."""


def run_operation(name: str, pixels: np.ndarray, params: Mapping[str, Any]) -> OperationOutput:
    """Run the operation ``name`` on ``pixels`` with ``params`` (validated here).

    Parameters
    ----------
    name : {"threshold", "superpixels", "selection", "objects", "background", "vignetting", "convert"}
    pixels : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        As :func:`specimen_imaging.codecs.decode_image` gives them.
    params : mapping
        The same fields as the route's parameters, without ``image``, ``mask`` and ``output``
        (e.g. ``{"method": "otsu", "opening_radius": 2}``); unknown names are refused.

    Raises
    ------
    InvalidParameter
        Unknown operation or bad parameters (422, each bad value named).
    FlatImage
        Thresholding a flat image (422).

    Examples
    --------
    >>> img = np.zeros((4, 4), np.uint8); img[1:3, 1:3] = 9
    >>> run_operation("threshold", img, {}).summary["object_count"]
    1
    """
    operation = OPERATIONS.get(name)
    if operation is None:
        raise InvalidParameter(f"operation={name!r} is unknown; use one of {', '.join(OPERATIONS)}")
    if not isinstance(params, Mapping):
        raise InvalidParameter(f"params must be an object of named parameters, got {type(params).__name__}")
    return operation(pixels, params)


def offered_formats(name: str, params: Mapping[str, Any]) -> tuple[str, ...]:
    """The picture formats the result of ``name`` with ``params`` can be kept and served in.

    A 16-bit label image (superpixels, ``result`` labels, the default) only in PNG and TIFF;
    everything else in every image format.

    Examples
    --------
    >>> offered_formats("superpixels", {})
    ('png', 'tiff')
    >>> offered_formats("superpixels", {"result": "overlay"}) == IMAGE_FORMATS
    True
    """
    if name == "superpixels" and params.get("result", "labels") == "labels":
        return SIXTEEN_BIT_FORMATS
    return IMAGE_FORMATS


class Algorithms:
    """The operations as the library's port (:class:`specimen_segment.domain.library.Operations`)."""

    def run(self, name: str, pixels: npt.NDArray[Any], params: Mapping[str, Any]) -> OperationOutput:
        return run_operation(name, pixels, params)

    def formats(self, name: str, params: Mapping[str, Any]) -> tuple[str, ...]:
        if name not in OPERATIONS:
            raise InvalidParameter(f"operation={name!r} is unknown; use one of {', '.join(OPERATIONS)}")
        return offered_formats(name, params)
