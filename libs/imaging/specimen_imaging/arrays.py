"""Shape and dtype checks shared by the algorithms; every message names the value and the fix."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_kit.errors import InvalidParameter

INTEGER_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


def check_image(image: Any, *, name: str = "image", allow_float: bool = False) -> npt.NDArray[Any]:
    """Return ``image`` as an array after checking it is (h, w) or (h, w, c) with c in 1, 3, 4.

    Parameters
    ----------
    image : array_like
        Gray (h, w), RGB (h, w, 3) or RGBA (h, w, 4), ``uint8`` or ``uint16``
        (``float32``/``float64`` too when ``allow_float``).
    name : str
        The argument's name, used in the error message.
    allow_float : bool
        Accept floating-point pixels.

    Raises
    ------
    InvalidParameter
        When the shape or dtype is not one of the above.

    Examples
    --------
    >>> check_image(np.zeros((2, 3), np.uint8)).shape
    (2, 3)
    """
    if not isinstance(image, np.ndarray):
        raise InvalidParameter(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise InvalidParameter(
            f"{name} has shape {image.shape}; expected (h, w) gray, (h, w, 3) RGB or (h, w, 4) RGBA"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidParameter(f"{name} has shape {image.shape}; it must have at least one pixel")
    ok = image.dtype in INTEGER_DTYPES or (allow_float and image.dtype.kind == "f")
    if not ok:
        accepted = "uint8, uint16" + (", float32 or float64" if allow_float else "")
        raise InvalidParameter(f"{name} has dtype {image.dtype}; convert it to {accepted}")
    return image


def check_mask(mask: Any, shape: tuple[int, ...], *, name: str = "mask") -> npt.NDArray[np.bool_]:
    """Return ``mask`` as a boolean (h, w) array matching the first two entries of ``shape``.

    Examples
    --------
    >>> check_mask(np.ones((2, 2), np.uint8), (2, 2, 3)).dtype
    dtype('bool')
    """
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        got = mask.shape if isinstance(mask, np.ndarray) else type(mask).__name__
        raise InvalidParameter(f"{name} must be a 2-D (h, w) array, got {got}")
    if mask.shape != tuple(shape[:2]):
        raise InvalidParameter(f"{name} has shape {mask.shape}; it must match the image's {tuple(shape[:2])}")
    if mask.dtype != np.bool_ and mask.dtype.kind not in "ui":
        raise InvalidParameter(f"{name} has dtype {mask.dtype}; use bool (or 0/non-zero integers)")
    return mask.astype(bool, copy=False)


def to_gray(image: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Gray (h, w) view or converted copy of a gray/RGB/RGBA image, dtype preserved.

    RGB is weighted with OpenCV's ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), not
    scikit-image's ``rgb2gray`` (BT.709); alpha is ignored.

    Examples
    --------
    >>> to_gray(np.full((1, 1, 3), 7, np.uint8))[0, 0]
    np.uint8(7)
    """
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
    gray: npt.NDArray[Any] = cv2.cvtColor(np.ascontiguousarray(image), code)
    return gray


def to_rgb(image: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """RGB (h, w, 3) copy of a gray/RGB/RGBA image, dtype preserved, alpha dropped.

    Examples
    --------
    >>> to_rgb(np.zeros((2, 2), np.uint8)).shape
    (2, 2, 3)
    """
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return np.array(image[:, :, :3], copy=True)


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` if it is an int ≥ ``minimum``.

    Examples
    --------
    >>> check_positive_int(3, "n_segments")
    3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidParameter(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidParameter(f"{name}={value} is out of range; use an integer >= {minimum}")
    return int(value)
