"""The object pipeline as one call: (flat-field) → threshold → connected objects → measurements.

Segment's ``/objects`` and the plankton classifier both call :func:`extract_objects`, so an
object found and measured by one is found and measured the same way by the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from specimen_imaging.arrays import check_image
from specimen_imaging.flatfield import flat_field_correct
from specimen_imaging.measurements import FEATURE_SET_VERSION, ObjectMeasurements, measure_objects
from specimen_imaging.objects import Objects, find_objects
from specimen_imaging.thresholding import ThresholdParams, threshold_mask, threshold_only
from specimen_kit.deadlines import Deadline, checkpoint
from specimen_kit.errors import InvalidParameter


def extract_objects(
    pixels: npt.NDArray[Any],
    threshold: ThresholdParams | None = None,
    *,
    min_area: int = 0,
    max_area: int | None = None,
    keep_border: bool = True,
    mask: npt.NDArray[np.bool_] | None = None,
    flat_field_sigma: float | None = None,
    deadline: Deadline | None = None,
    feature_set: str = FEATURE_SET_VERSION,
    hysteresis_sigmas: float | None = None,
) -> tuple[Objects, ObjectMeasurements]:
    """Find the objects of ``pixels`` and measure them.

    Parameters
    ----------
    pixels : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        Gray or RGB(A) pixels (RGB order), as :func:`specimen_imaging.codecs.decode_image`
        gives them; the intensity measurements use their BT.601 gray.
    threshold : ThresholdParams, optional
        How the foreground mask is made when ``mask`` is None (default: Otsu, light objects on
        a dark background). Its own area filter applies to the raw mask; pass ``min_area=0,
        max_area=None`` there and filter with the arguments below, which count filled objects.
    min_area, max_area : int, int or None
        Keep objects whose filled area (holes included) is within ``[min_area, max_area]``.
    keep_border : bool
        Keep objects touching the image border.
    mask : ndarray of bool, (h, w), optional
        A ready foreground mask; ``threshold`` is unused then.
    flat_field_sigma : float, optional
        First correct uneven illumination (vignetting) with
        :func:`~specimen_imaging.flatfield.flat_field_correct` at this blur (pixels, larger
        than the objects); the objects are then found and measured (intensities included) in
        the corrected image. None (default) leaves the pixels as they are.
    deadline : Deadline, optional
        Checked between the steps (default: the current request's).
    feature_set : str
        The feature set measured (:data:`specimen_imaging.measurements.FEATURE_SETS`).
    hysteresis_sigmas : float, optional
        Hysteresis thresholding (when ``mask`` is None): the mask is taken this many noise
        deviations from the background's median towards the objects (never past the
        threshold, :func:`~specimen_imaging.thresholding.hysteresis_level`), and only its
        objects that hold a pixel past the threshold itself are kept. None (default): the
        threshold alone.

    Returns
    -------
    (Objects, ObjectMeasurements)
        The label image with each object's bbox, and one measurement row per object in label
        order (features in :data:`specimen_imaging.measurements.FEATURE_NAMES` order).

    Raises
    ------
    InvalidParameter
        A bad array or parameter (422, the value named).
    FlatImage
        Thresholding an image whose pixels are all equal (422).

    Examples
    --------
    >>> img = np.zeros((8, 8), np.uint8); img[2:5, 2:6] = 200
    >>> objects, measured = extract_objects(img)
    >>> objects.count, measured.column("area").tolist(), measured.bboxes.tolist()
    (1, [12.0], [[2, 2, 5, 6]])
    """
    pixels = check_image(pixels, name="pixels")
    if flat_field_sigma is not None:
        pixels = flat_field_correct(pixels, flat_field_sigma)
        checkpoint("flat-field correction", deadline)
    seeds = None
    if mask is None:
        params = threshold if threshold is not None else ThresholdParams()
        if hysteresis_sigmas is not None:
            if params.min_area > 1 or params.max_area is not None:
                raise InvalidParameter(
                    "hysteresis thresholding selects objects by their seeds; filter them by area "
                    "with min_area and max_area of the extraction, not of the threshold")
            mask, _, seeds = threshold_only(
                pixels, params, hysteresis_sigmas=hysteresis_sigmas, deadline=deadline)
        elif params.min_area <= 1 and params.max_area is None:  # no area filter: nothing to drop
            mask = threshold_only(pixels, params, deadline=deadline)[0]
        else:
            mask = threshold_mask(pixels, params, deadline=deadline).mask
    objects = find_objects(mask, min_area=min_area, max_area=max_area, keep_border=keep_border, seeds=seeds)
    checkpoint("find objects", deadline)
    measured = measure_objects(objects.labels, pixels, feature_set, bboxes=objects.bboxes)
    checkpoint("measure objects", deadline)
    return objects, measured
