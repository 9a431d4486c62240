"""Flat-field (vignetting) correction."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_imaging.arrays import check_image
from specimen_kit.errors import InvalidParameter

MAX_SIGMA = 1000.0
PIXELS_PER_SIGMA_AT_SCALE = 4.0
"""A background blur of ``sigma`` >= 8 is computed on a copy shrunk by ``sigma // 4``: a
Gaussian that wide is smooth across 4 pixels, so the shrunk blur, enlarged again, stays within
about 1 % of the full-size one (see the tests) at a small fraction of the cost, which grows with
sigma² at full size."""


def _background(pixels: npt.NDArray[np.float32], sigma: float) -> npt.NDArray[Any]:
    factor = int(sigma // PIXELS_PER_SIGMA_AT_SCALE)
    height, width = pixels.shape[:2]
    if factor < 2 or min(height, width) < 4 * factor:
        return cv2.GaussianBlur(pixels, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    small = cv2.resize(pixels, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    # Area averaging over factor pixels already blurs by factor/sqrt(12); take it off the Gaussian.
    small_sigma = np.sqrt(max(sigma**2 - factor**2 / 12.0, 0.25)) / factor
    small = cv2.GaussianBlur(small, (0, 0), small_sigma, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def flat_field_correct(image: npt.NDArray[Any], sigma: float = 50.0) -> npt.NDArray[Any]:
    """Divide by a Gaussian-blurred background estimate, per channel, keeping the brightness.

    ``out = image / blur(image, sigma) * mean(blur(image, sigma))``, clipped to the dtype's
    range (``[0, 1]`` for floats) and cast back to the input dtype. Alpha is left unchanged.

    Parameters
    ----------
    image : ndarray, (h, w) or (h, w, 3|4), uint8, uint16 or float
    sigma : float
        Standard deviation in pixels of the background blur, in (0, 1000]; choose it larger
        than the objects so they do not enter the background estimate.

    Examples
    --------
    >>> ramp = np.tile(np.linspace(100, 200, 8), (8, 1)).astype(np.uint8)
    >>> int(np.ptp(flat_field_correct(ramp, sigma=0.5))) < int(np.ptp(ramp))
    True
    """
    image = check_image(image, allow_float=True)
    if not (np.isfinite(sigma) and 0 < sigma <= MAX_SIGMA):
        raise InvalidParameter(f"sigma={sigma} is out of range; use a number in (0, {MAX_SIGMA:g}]")
    has_alpha = image.ndim == 3 and image.shape[2] == 4
    color = image[:, :, :3] if has_alpha else image
    pixels = color.astype(np.float32)
    background = _background(pixels, sigma).reshape(pixels.shape)
    level = background.reshape(-1, 1 if pixels.ndim == 2 else pixels.shape[2]).mean(axis=0)
    # In place, in the same order as ``pixels / max(background, 1e-6) * level`` (the same
    # float32 results): one full-size float copy fewer per step (issue 9, finding 6).
    np.maximum(background, np.float32(1e-6), out=background)
    corrected = np.divide(pixels, background, out=pixels)
    del background
    corrected *= level.astype(np.float32)
    top = 1.0 if image.dtype.kind == "f" else float(np.iinfo(image.dtype).max)
    out: npt.NDArray[Any]
    if image.dtype == np.uint8:
        # OpenCV's saturating conversion rounds half to even as np.rint, clips to [0, 255], and
        # its absolute value changes nothing here (pixels >= 0 over a positive background): the
        # same bytes as rint, clip and astype, in one pass instead of three.
        out = cv2.convertScaleAbs(corrected)
    else:
        if image.dtype.kind != "f":
            np.rint(corrected, out=corrected)
        np.clip(corrected, 0, top, out=corrected)
        out = corrected.astype(image.dtype)
    if has_alpha:
        out = np.dstack([out, image[:, :, 3]])
    return out
