"""Global thresholding into a clean binary mask (the HYPERPIXEL use), overlays and cut-outs.

The pipeline of :func:`threshold_mask` is, in this order: gray conversion → threshold →
opening → closing → hole filling → area filter. The hot path is OpenCV (a few ms for a
512x512 frame, area pass included; SciPy's equivalent is ~5x slower: bench/segment_algorithms.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from specimen_imaging import morphology
from specimen_imaging.arrays import check_image, check_mask, to_gray, to_rgb
from specimen_imaging.errors import FlatImage
from specimen_kit.deadlines import Deadline, checkpoint
from specimen_kit.errors import InvalidParameter

Method = Literal["otsu", "quantile", "fixed"]
Polarity = Literal["light-on-dark", "dark-on-light"]
Background = Literal["white", "transparent"]

_METHODS = ("otsu", "quantile", "fixed")
_POLARITIES = ("light-on-dark", "dark-on-light")
MAX_RADIUS = 256


@dataclass(frozen=True)
class ThresholdParams:
    """Validated parameters of :func:`threshold_mask`.

    Parameters
    ----------
    method : {"otsu", "quantile", "fixed"}
        Otsu's between-class variance maximum, the ``quantile`` of the gray values, or ``value``.
    quantile : float
        In (0, 1); used by ``method="quantile"``.
    value : float or None
        The threshold for ``method="fixed"``; required then, within the image dtype's range.
    polarity : {"light-on-dark", "dark-on-light"}
        Which side is foreground: ``light-on-dark`` keeps pixels ``> t`` (scikit-image's
        ``image > threshold_otsu(image)``), ``dark-on-light`` keeps pixels ``<= t``.
    opening_radius, closing_radius : int
        Radius in pixels (0 = skip) of the elliptical structuring element, size ``2r + 1``.
    fill_holes : bool
        Fill background regions not 4-connected to the image border.
    min_area, max_area : int, int or None
        Keep 8-connected objects whose pixel count is in ``[min_area, max_area]``.

    Examples
    --------
    >>> ThresholdParams(method="quantile", quantile=0.9).quantile
    0.9
    """

    method: Method = "otsu"
    quantile: float = 0.5
    value: float | None = None
    polarity: Polarity = "light-on-dark"
    opening_radius: int = 0
    closing_radius: int = 0
    fill_holes: bool = False
    min_area: int = 0
    max_area: int | None = None

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise InvalidParameter(f"method={self.method!r} is unknown; use one of {', '.join(_METHODS)}")
        if self.polarity not in _POLARITIES:
            raise InvalidParameter(
                f"polarity={self.polarity!r} is unknown; use one of {', '.join(_POLARITIES)}"
            )
        if not 0.0 < float(self.quantile) < 1.0:
            raise InvalidParameter(f"quantile={self.quantile} is out of range; use a value in (0, 1)")
        if self.method == "fixed" and self.value is None:
            raise InvalidParameter("method='fixed' needs a value; pass value=<threshold>")
        if self.value is not None and not np.isfinite(self.value):
            raise InvalidParameter(f"value={self.value} is not a finite number")
        for name in ("opening_radius", "closing_radius"):
            radius = getattr(self, name)
            if isinstance(radius, bool) or not isinstance(radius, int) or not 0 <= radius <= MAX_RADIUS:
                raise InvalidParameter(
                    f"{name}={radius!r} is out of range; use an integer in [0, {MAX_RADIUS}]"
                )
        if isinstance(self.min_area, bool) or not isinstance(self.min_area, int) or self.min_area < 0:
            raise InvalidParameter(f"min_area={self.min_area!r} is out of range; use an integer >= 0")
        if self.max_area is not None and (
            isinstance(self.max_area, bool) or not isinstance(self.max_area, int) or self.max_area < 1
        ):
            raise InvalidParameter(f"max_area={self.max_area!r} is out of range; use an integer >= 1")
        if self.max_area is not None and self.max_area < self.min_area:
            raise InvalidParameter(
                f"max_area={self.max_area} is below min_area={self.min_area}; use max_area >= min_area"
            )


@dataclass(frozen=True)
class MaskResult:
    """Outcome of :func:`threshold_mask`.

    Attributes
    ----------
    mask : ndarray of bool, shape (h, w)
        Foreground pixels.
    threshold : float
        The threshold used, in the image's gray units.
    foreground_fraction : float
        ``mask.mean()``.
    object_count : int
        Number of 8-connected objects in ``mask``.
    """

    mask: npt.NDArray[np.bool_]
    threshold: float
    foreground_fraction: float
    object_count: int


def otsu_threshold(gray: npt.NDArray[Any]) -> float:
    """Otsu's threshold of a ``uint8`` or ``uint16`` gray image.

    Equal to ``skimage.filters.threshold_otsu``: both take one histogram bin per integer value
    between the image's minimum and maximum, and return the bin ``t`` that maximises the
    between-class variance of ``{<= t}`` and ``{> t}``. OpenCV's ``THRESH_OTSU`` (used for
    ``uint8``) has the same convention (``dst = src > t``); ``uint16`` goes through a full
    65536-bin ``np.bincount`` histogram computed here, since OpenCV's Otsu accepts 8-bit only.

    Raises
    ------
    FlatImage
        When every pixel has the same value.

    Examples
    --------
    >>> otsu_threshold(np.array([[10, 10, 200, 200]], np.uint8))
    10.0
    """
    gray = check_image(gray, name="gray")
    if gray.ndim != 2:
        raise InvalidParameter(f"gray has shape {gray.shape}; pass a 2-D (h, w) image")
    lo, hi = int(gray.min()), int(gray.max())
    if lo == hi:
        raise FlatImage(lo)
    if gray.dtype == np.uint8:
        t, _ = cv2.threshold(np.ascontiguousarray(gray), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        return float(t)
    counts = np.bincount(gray.ravel(), minlength=hi + 1)[lo:].astype(np.float64)
    centers = np.arange(lo, hi + 1, dtype=np.float64)
    weight1 = np.cumsum(counts)
    weight2 = np.cumsum(counts[::-1])[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean1 = np.cumsum(counts * centers) / weight1
        mean2 = (np.cumsum((counts * centers)[::-1]) / weight2[::-1])[::-1]
        variance = weight1[:-1] * weight2[1:] * (mean1[:-1] - mean2[1:]) ** 2
    return float(centers[int(np.nanargmax(variance))])


def fill_holes(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Fill background regions that are not 4-connected to the border.

    Same result as ``scipy.ndimage.binary_fill_holes`` with its default structure.

    Examples
    --------
    >>> ring = np.ones((3, 3), bool); ring[1, 1] = False
    >>> bool(fill_holes(ring)[1, 1])
    True
    """
    h, w = mask.shape
    canvas = np.zeros((h + 2, w + 2), np.uint8)
    canvas[1:-1, 1:-1] = mask
    flood_mask = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(canvas, flood_mask, (0, 0), 2, flags=4)
    filled: npt.NDArray[np.bool_] = canvas[1:-1, 1:-1] != 2
    return filled


def filter_by_area(
    mask: npt.NDArray[np.bool_], min_area: int = 0, max_area: int | None = None
) -> tuple[npt.NDArray[np.bool_], int]:
    """Keep 8-connected objects with ``min_area <= area <= max_area``; return mask and count.

    Examples
    --------
    >>> m = np.zeros((4, 4), bool); m[0, 0] = True; m[2:, 2:] = True
    >>> filter_by_area(m, min_area=2)[1]
    1
    """
    if min_area <= 1 and max_area is None:
        # Nothing to drop (every object has at least one pixel): count, keep the mask as it is.
        # The extraction pipeline always asks this, and the filter was a second labelling and a
        # full-size gather per frame (issue 12's frames-per-core figure).
        count = cv2.connectedComponents(mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)[0] - 1
        return mask.copy(), int(count)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    areas = stats[:, cv2.CC_STAT_AREA]
    keep = areas >= min_area
    if max_area is not None:
        keep &= areas <= max_area
    keep[0] = False
    kept: npt.NDArray[np.bool_] = keep[labels]
    return kept, int(keep.sum())


def threshold_mask(
    image: npt.NDArray[Any], params: ThresholdParams | None = None, *, deadline: Deadline | None = None
) -> MaskResult:
    """Threshold a gray or RGB(A) image into a cleaned binary mask.

    Parameters
    ----------
    image : ndarray, shape (h, w) or (h, w, 3|4), uint8 or uint16
        Gray or RGB(A) pixels (RGB order; converted with BT.601 luma, alpha ignored).
    params : ThresholdParams, optional
        Defaults to Otsu, light objects on a dark background, no clean-up.
    deadline : Deadline, optional
        Checked between the steps (default: the current request's, see
        :mod:`specimen_kit.deadlines`).

    Returns
    -------
    MaskResult
        The mask, the threshold used, the foreground fraction and the object count.

    Raises
    ------
    FlatImage
        For ``otsu`` and ``quantile`` when every pixel has the same value.
    InvalidParameter
        For a bad array, or a fixed ``value`` outside the dtype's range.
    WorkDeadlineExceeded, WorkCancelled
        The deadline passed, or the client went away, before the last step.

    Examples
    --------
    >>> img = np.array([[0, 0, 0, 0], [0, 9, 9, 0], [0, 9, 9, 0], [0, 0, 0, 0]], np.uint8)
    >>> r = threshold_mask(img)
    >>> r.threshold, r.object_count, r.foreground_fraction
    (0.0, 1, 0.25)
    """
    params = params if params is not None else ThresholdParams()
    result, t, _ = threshold_only(image, params, deadline=deadline)
    result, count = filter_by_area(result, params.min_area, params.max_area)
    return MaskResult(result, t, float(result.mean()), count)


_EXACT_FLOAT32_COUNT = 1 << 24
NOISE_PER_MAD = 1.4826
"""A Gaussian's standard deviation over its median absolute deviation."""


def background_noise(gray: npt.NDArray[Any]) -> tuple[float, float]:
    """The median gray of an integer image and its noise, from one histogram.

    ``(m, s)``: ``m`` the lower median of the values, ``s`` :data:`NOISE_PER_MAD` times the
    lower median of ``|value - m|`` (the robust standard deviation), at least 1 gray level.
    On a frame whose objects cover under half of it, both are the background's.

    Examples
    --------
    >>> background_noise(np.array([[10, 10, 11, 9, 200]], np.uint8))
    (10.0, 1.4826)
    """
    if gray.dtype == np.uint8 and gray.size < _EXACT_FLOAT32_COUNT:
        # OpenCV's histogram counts in float32 (exact below 2**24) and is ~10x faster than
        # np.bincount, which first widens every pixel to a 64-bit index.
        histogram = cv2.calcHist([np.ascontiguousarray(gray)], [0], None, [256], [0, 256])
        counts = histogram.ravel().astype(np.int64)
    else:
        counts = np.bincount(gray.ravel(), minlength=int(np.iinfo(gray.dtype).max) + 1)
    median = int(np.searchsorted(np.cumsum(counts), (gray.size - 1) // 2, side="right"))
    deviations = np.bincount(np.abs(np.arange(counts.size) - median), weights=counts)
    mad = int(np.searchsorted(np.cumsum(deviations), (gray.size - 1) // 2, side="right"))
    return float(median), NOISE_PER_MAD * max(mad, 1)


def hysteresis_level(gray: npt.NDArray[Any], t: float, sigmas: float, polarity: Polarity) -> float:
    """The weak level of hysteresis thresholding: the background's median moved ``sigmas``
    noise deviations (:func:`background_noise`) towards the objects, never past ``t``."""
    median, noise = background_noise(gray)
    if polarity == "dark-on-light":
        return max(t, median - sigmas * noise)
    return min(t, median + sigmas * noise)


def threshold_only(
    image: npt.NDArray[Any],
    params: ThresholdParams,
    *,
    hysteresis_sigmas: float | None = None,
    deadline: Deadline | None = None,
) -> tuple[npt.NDArray[np.bool_], float, npt.NDArray[np.bool_] | None]:
    """:func:`threshold_mask`'s mask before its area filter, and the threshold: what the object
    pipeline needs (it labels the mask itself), without the count and the copy (a labelling
    and a full-frame pass, 3-4 ms of a 1024² frame).

    With ``hysteresis_sigmas`` the mask is taken at the weak level of :func:`hysteresis_level`
    (then opened, closed, filled as asked) and the pixels past ``t`` itself come back as the
    third value, the *seeds*: an object of the weak mask is one when it holds a seed
    (``find_objects(..., seeds=)``). The faint parts of an object (an aggregate's strands)
    stay attached to it, and faint specks without a seed are not objects.

    Returns
    -------
    (mask, t, seeds or None)

    Raises
    ------
    FlatImage, InvalidParameter, WorkDeadlineExceeded, WorkCancelled
        As :func:`threshold_mask`; InvalidParameter also for ``hysteresis_sigmas`` not > 0.
    """
    gray = to_gray(check_image(image))
    top = float(np.iinfo(gray.dtype).max)
    if params.method == "otsu":
        t = otsu_threshold(gray)
    elif params.method == "quantile":
        lo, hi = int(gray.min()), int(gray.max())
        if lo == hi:
            raise FlatImage(lo)
        t = float(np.quantile(gray, params.quantile))
    else:
        assert params.value is not None
        if not 0.0 <= params.value <= top:
            raise InvalidParameter(f"value={params.value} is outside the {gray.dtype} range [0, {top:g}]")
        t = float(params.value)
    seeds: npt.NDArray[np.bool_] | None = None
    level = t
    if hysteresis_sigmas is not None:
        if not (np.isfinite(hysteresis_sigmas) and hysteresis_sigmas > 0):
            raise InvalidParameter(f"hysteresis_sigmas={hysteresis_sigmas} must be a number > 0")
        seeds = gray > t if params.polarity == "light-on-dark" else gray <= t
        level = hysteresis_level(gray, t, float(hysteresis_sigmas), params.polarity)
    mask = gray > level if params.polarity == "light-on-dark" else gray <= level
    del gray
    checkpoint("threshold", deadline)
    if params.opening_radius:
        mask = morphology.opening(mask, params.opening_radius)
        checkpoint("opening", deadline)
    if params.closing_radius:
        # The frame counts as background, which keeps closing from gluing objects to its edge.
        mask = morphology.closing(mask, params.closing_radius)
        checkpoint("closing", deadline)
    if params.fill_holes:
        mask = fill_holes(mask)
        checkpoint("fill holes", deadline)
    return mask, t, seeds


def _as_rgb8(image: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    rgb = to_rgb(image)
    if rgb.dtype == np.uint16:
        return (rgb >> 8).astype(np.uint8)
    out: npt.NDArray[np.uint8] = rgb
    return out


def overlay_contours(
    image: npt.NDArray[Any],
    mask: npt.NDArray[Any],
    *,
    color: tuple[int, int, int] = (255, 0, 0),
    thickness: int = 1,
) -> npt.NDArray[np.uint8]:
    """Draw the outlines of ``mask``'s objects (and holes) on an RGB ``uint8`` copy of ``image``.

    Parameters
    ----------
    image : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        Gray or RGB(A); 16-bit is shown as its high byte.
    mask : ndarray of bool, (h, w)
    color : (r, g, b)
        Outline colour, RGB order.
    thickness : int
        Line width in pixels, >= 1.

    Examples
    --------
    >>> m = np.zeros((5, 5), bool); m[1:4, 1:4] = True
    >>> overlay_contours(np.zeros((5, 5), np.uint8), m)[1, 1].tolist()
    [255, 0, 0]
    """
    image = check_image(image)
    m = check_mask(mask, image.shape)
    if isinstance(thickness, bool) or not isinstance(thickness, int) or not 1 <= thickness <= 64:
        raise InvalidParameter(f"thickness={thickness!r} is out of range; use an integer in [1, 64]")
    if len(color) != 3 or not all(0 <= int(c) <= 255 for c in color):
        raise InvalidParameter(f"color={color!r} must be three integers in [0, 255] (RGB)")
    out = np.ascontiguousarray(_as_rgb8(image))
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, tuple(int(c) for c in color), thickness)
    return out


def cutout(
    image: npt.NDArray[Any], mask: npt.NDArray[Any], background: Background = "white"
) -> npt.NDArray[Any]:
    """Keep the pixels under ``mask``; the rest becomes white, or transparent (RGBA).

    Transparent pixels are ``(0, 0, 0, 0)``: nothing of what was cut out survives under alpha 0.

    Parameters
    ----------
    image : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        Gray or RGB(A); the result is RGB (``white``) or RGBA (``transparent``), dtype kept.
    mask : ndarray of bool, (h, w)
    background : {"white", "transparent"}

    Examples
    --------
    >>> m = np.array([[True, False]])
    >>> cutout(np.zeros((1, 2), np.uint8), m).tolist()
    [[[0, 0, 0], [255, 255, 255]]]
    >>> cutout(np.zeros((1, 2), np.uint8), m, "transparent")[..., 3].tolist()
    [[255, 0]]
    """
    image = check_image(image)
    m = check_mask(mask, image.shape)
    top = np.iinfo(image.dtype).max
    rgb = to_rgb(image)
    if background == "white":
        rgb[~m] = top
        return rgb
    if background == "transparent":
        alpha = np.where(m, top, 0).astype(image.dtype)
        if image.ndim == 3 and image.shape[2] == 4:
            alpha = np.minimum(alpha, image[:, :, 3])
        # A transparent pixel carries no colour: keeping the RGB under alpha 0 would hand back
        # what was cut out to anyone who flattens the alpha (and bloat the file).
        rgb[alpha == 0] = 0
        return np.dstack([rgb, alpha])
    raise InvalidParameter(f"background={background!r} is unknown; use 'white' or 'transparent'")
