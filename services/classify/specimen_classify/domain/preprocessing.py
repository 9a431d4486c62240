"""Brain MRI slice → the tumor CNN's square input, with the crop box in the original pixels.

The steps are the reference design's (the public Kaggle brain-tumor notebooks, after
imutils' "extreme points" recipe): resize to 256x256, Gaussian blur 5x5, binary threshold at
45, erode x2 then dilate x2 (3x3), largest external contour, crop between its extreme
points (left, right, top, bottom), resize to the network's input side (32x32 for the reference
CNN, :data:`INPUT_SIZE`; larger for the default network, see :func:`model_input`), scale to [0, 1].

The crop is taken from the 256x256 image, as in the reference, so training and serving
see the same pixels whatever the original size; the crop box is mapped back to the original
image through the per-axis scale and rounded outward, so it always contains the brain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from specimen_classify.domain.errors import InvalidImage, NoBrainFound

TARGET_SIZE = 256
"""Side of the square the slice is resized to before segmentation (reference design)."""
INPUT_SIZE = 32
"""Side of the reference CNN's square input (other networks read theirs from the model)."""
MIN_INPUT_SIZE = 8
MAX_INPUT_SIZE = 256
BLUR_KERNEL = (5, 5)
"""Gaussian blur kernel; sigma is derived from the size (OpenCV's ``sigmaX=0``)."""
THRESHOLD = 45
"""Gray level (of 255) above which a blurred pixel counts as head. The reference's value: the
background of a skull-stripped or plain T1/T2 slice sits well below it, tissue well above."""
MORPH_ITERATIONS = 2
"""Erosions then dilations (3x3): removes specks and thin bridges smaller than ~5 px at 256."""

BBox = tuple[int, int, int, int]
BORDER_FRACTION = 0.04
"""Width of the image's outer border, as a share of the side, measured by :class:`HeadShape`."""


@dataclass(frozen=True)
class HeadShape:
    """What the crop saw of the picture, for the image checks
    (:func:`specimen_classify.domain.familiarity.unfamiliar_image`).

    Attributes
    ----------
    dark_fraction : float
        Share of the blurred TARGET_SIZE image at or below :data:`THRESHOLD` (background).
    dark_border : float
        The same share on the outer border (:data:`BORDER_FRACTION` of each side).
    solidity : float
        Area of the largest contour (the head) over its convex hull's: a head is rounded, near 1.
    entropy : float
        Shannon entropy (bits) of the gray levels above the threshold inside the head: tissue
        has many levels, a drawing or a binary mask only a few.
    """

    dark_fraction: float
    dark_border: float
    solidity: float
    entropy: float


@dataclass(frozen=True)
class BrainCrop:
    """The cropped brain and where it came from.

    Attributes
    ----------
    region : ndarray of uint8, (h, w)
        The crop of the TARGET_SIZExTARGET_SIZE image (``crop_box_256``), before resizing to the
        network's input (:func:`model_input`).
    crop_box : tuple of int
        ``(min_row, min_col, max_row, max_col)`` in the original image's pixels, max exclusive
        (segment's bbox convention), so ``image[r0:r1, c0:c1]`` is the cropped brain.
    crop_box_256 : tuple of int
        The same box, half-open, in the TARGET_SIZExTARGET_SIZE image.
    scale : tuple of float
        ``(sx, sy)``: original pixels per resized pixel along x and y.
    head : HeadShape
        Background, border, outline and texture facts for the image checks.
    """

    region: npt.NDArray[np.uint8]
    crop_box: BBox
    crop_box_256: BBox
    scale: tuple[float, float]
    head: HeadShape

    @property
    def input_32(self) -> npt.NDArray[np.float32]:
        """The reference CNN's input: :func:`model_input` at :data:`INPUT_SIZE`."""
        return model_input(self, INPUT_SIZE)


def model_input(crop: BrainCrop, size: int) -> npt.NDArray[np.float32]:
    """A crop resized to ``size`` x ``size`` and scaled to [0, 1], float32: what the CNN reads.

    Raises
    ------
    InvalidImage
        ``size`` outside [MIN_INPUT_SIZE, MAX_INPUT_SIZE].

    Examples
    --------
    >>> region = np.full((40, 20), 255, np.uint8)
    >>> crop = BrainCrop(region, (0, 0, 40, 20), (0, 0, 40, 20), (1.0, 1.0), HeadShape(0.5, 1.0, 1.0, 6.0))
    >>> model_input(crop, 16).shape, float(model_input(crop, 16).max())
    ((16, 16), 1.0)
    """
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not (
            MIN_INPUT_SIZE <= size <= MAX_INPUT_SIZE):
        raise InvalidImage(f"the network input side must be an integer in [{MIN_INPUT_SIZE}, "
                           f"{MAX_INPUT_SIZE}], got {size!r}")
    # INTER_AREA averages when shrinking (the reference) and is bilinear-like when enlarging.
    small = cv2.resize(crop.region, (int(size), int(size)), interpolation=cv2.INTER_AREA)
    return (small.astype(np.float32) / np.float32(255.0)).astype(np.float32)


def gray_uint8(image: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """Validate a slice and return it as a new 8-bit gray array.

    Accepted: gray ``(h, w)``, RGB ``(h, w, 3)`` or RGBA ``(h, w, 4)`` (alpha ignored), each
    ``uint8`` or ``uint16``. RGB is converted with the ITU-R 601 luma weights (channels read in
    RGB order). ``uint16`` is stretched from its own minimum-maximum to 0-255, because MRI
    intensities have no absolute scale; a flat ``uint16`` image becomes all zeros.

    Parameters
    ----------
    image : ndarray

    Returns
    -------
    ndarray of uint8, shape (h, w); never a view of ``image``.

    Raises
    ------
    InvalidImage
        Not an array, empty, another dtype, or another shape.

    Examples
    --------
    >>> gray_uint8(np.array([[0, 1000]], np.uint16)).tolist()
    [[0, 255]]
    """
    if not isinstance(image, np.ndarray):
        raise InvalidImage(f"the slice must be a numpy array, got {type(image).__name__}")
    if image.dtype not in (np.uint8, np.uint16):
        raise InvalidImage(f"the slice must be uint8 or uint16, got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise InvalidImage(
            f"the slice must be gray (h, w), RGB (h, w, 3) or RGBA (h, w, 4); got {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImage(f"the slice is empty: shape {image.shape}")
    gray = image
    if image.ndim == 3:
        gray = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    if gray.dtype == np.uint8:
        return np.array(gray, dtype=np.uint8, copy=True)
    low, high = int(gray.min()), int(gray.max())
    if high == low:
        return np.zeros(gray.shape, np.uint8)
    stretched = (gray.astype(np.float64) - low) * (255.0 / (high - low))
    return np.rint(stretched).astype(np.uint8)


def _no_brain_reason(blurred: npt.NDArray[np.uint8]) -> str:
    high = int(blurred.max())
    if high <= THRESHOLD:
        return f"no pixel is brighter than the threshold {THRESHOLD} of 255 (brightest: {high})"
    return (
        f"the regions brighter than {THRESHOLD} are specks or thin lines that erosion removes "
        f"(smaller than about {2 * MORPH_ITERATIONS + 1} px at {TARGET_SIZE}x{TARGET_SIZE})"
    )


def brain_crop(gray: npt.NDArray[Any]) -> BrainCrop:
    """Crop the brain out of an MRI slice (the network's input is :func:`model_input` of it).

    Parameters
    ----------
    gray : ndarray
        Gray ``(h, w)``, RGB ``(h, w, 3)`` or RGBA ``(h, w, 4)``, ``uint8`` or ``uint16``
        (see :func:`gray_uint8`). Not modified.

    Returns
    -------
    BrainCrop
        The cropped region and the crop box, in original and 256 pixels.

    Raises
    ------
    InvalidImage
        Shape or dtype not accepted.
    NoBrainFound
        A flat slice (any value), or nothing above :data:`THRESHOLD` survives the erosion
        (blank or dark slices, specks only).

    Examples
    --------
    >>> slice_ = np.zeros((100, 100), np.uint8)
    >>> slice_[20:60, 30:90] = 200
    >>> crop = brain_crop(slice_)
    >>> crop.input_32.shape, crop.input_32.dtype.name, crop.crop_box
    ((32, 32), 'float32', (19, 29, 61, 91))
    """
    gray8 = gray_uint8(gray)
    low, high = int(gray8.min()), int(gray8.max())
    if low == high:
        # A flat bright slice would otherwise be one contour covering everything.
        raise NoBrainFound(f"the slice is flat (every pixel is {low} after conversion to 8 bits)")
    height, width = gray8.shape
    sx, sy = width / TARGET_SIZE, height / TARGET_SIZE
    # INTER_AREA averages when shrinking (no aliasing of the skull ring) and is bilinear-like
    # when enlarging.
    resized = cv2.resize(gray8, (TARGET_SIZE, TARGET_SIZE), interpolation=cv2.INTER_AREA)
    blurred = cast("npt.NDArray[np.uint8]", cv2.GaussianBlur(resized, BLUR_KERNEL, 0))
    _, mask = cv2.threshold(blurred, THRESHOLD, 255, cv2.THRESH_BINARY)
    mask = cv2.erode(mask, None, iterations=MORPH_ITERATIONS)  # type: ignore[call-overload]
    mask = cv2.dilate(mask, None, iterations=MORPH_ITERATIONS)  # type: ignore[call-overload]
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        raise NoBrainFound(_no_brain_reason(blurred))
    largest = max(contours, key=cv2.contourArea)
    points = largest.reshape(-1, 2)
    left, right = int(points[:, 0].min()), int(points[:, 0].max())
    top, bottom = int(points[:, 1].min()), int(points[:, 1].max())
    # Half-open: the reference sliced [top:bottom, left:right] and lost the extreme row/column.
    box_256: BBox = (top, left, bottom + 1, right + 1)
    region = np.array(resized[top : bottom + 1, left : right + 1], dtype=np.uint8, copy=True)
    # Resized pixel i covers original [i*s, (i+1)*s); round outward so the box holds the brain.
    box: BBox = (
        max(0, int(np.floor(top * sy))),
        max(0, int(np.floor(left * sx))),
        min(height, int(np.ceil((bottom + 1) * sy))),
        min(width, int(np.ceil((right + 1) * sx))),
    )
    return BrainCrop(region=region, crop_box=box, crop_box_256=box_256, scale=(sx, sy),
                     head=_head_shape(resized, blurred, largest))


def _head_shape(resized: npt.NDArray[Any], blurred: npt.NDArray[np.uint8], head: Any) -> HeadShape:
    dark = blurred <= THRESHOLD
    band = max(1, round(BORDER_FRACTION * TARGET_SIZE))
    border = np.ones(dark.shape, bool)
    border[band:-band, band:-band] = False
    area = float(cv2.contourArea(head))
    hull = float(cv2.contourArea(cv2.convexHull(head)))
    filled = np.zeros(resized.shape, np.uint8)
    cv2.drawContours(filled, [head], -1, 255, thickness=-1)
    tissue = resized[(filled > 0) & (resized > THRESHOLD)]
    share = np.bincount(tissue, minlength=256)[THRESHOLD + 1 :] / max(1, tissue.size)
    share = share[share > 0]
    return HeadShape(dark_fraction=float(dark.mean()), dark_border=float(dark[border].mean()),
                     solidity=area / hull if hull > 0 else 0.0,
                     entropy=float(-(share * np.log2(share)).sum()) + 0.0)
