"""Background removal computed locally: GrabCut seeded from a rough foreground mask.

The seed (a threshold mask) is trusted only roughly: its eroded core is *sure* foreground,
the rest of it *probable* foreground, a band around it *probable* background and everything
farther *sure* background. GrabCut then refines the boundary from colour models of both sides.
Large frames are processed at a working size of about ``WORK_PIXELS`` and the mask scaled back,
which keeps a request within a second.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_imaging.arrays import check_image, check_mask, to_rgb
from specimen_kit.errors import InvalidParameter

WORK_PIXELS = 512 * 512
MAX_ITERATIONS = 20


def _ellipse(radius: int) -> npt.NDArray[Any]:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def grabcut_foreground(
    image: npt.NDArray[Any], seed: npt.NDArray[Any], iterations: int = 5
) -> npt.NDArray[np.bool_]:
    """Foreground mask refined by GrabCut from a rough ``seed`` mask.

    Parameters
    ----------
    image : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        Gray or RGB(A); alpha is ignored, 16-bit is modelled on its high byte.
    seed : ndarray of bool, (h, w)
        Rough foreground, e.g. ``threshold_mask(image).mask``; neither empty nor full.
    iterations : int
        GrabCut iterations, in [1, 20].

    Returns
    -------
    ndarray of bool, (h, w)

    Raises
    ------
    InvalidParameter
        When the seed is empty or covers the whole image (no colour model for one side).

    Examples
    --------
    >>> img = np.zeros((40, 40, 3), np.uint8); img[10:30, 10:30] = (200, 40, 40)
    >>> seed = np.zeros((40, 40), bool); seed[12:28, 12:28] = True
    >>> int(grabcut_foreground(img, seed)[10:30, 10:30].sum())
    400
    """
    image = check_image(image)
    m = check_mask(seed, image.shape, name="seed")
    if (
        isinstance(iterations, bool)
        or not isinstance(iterations, int)
        or not 1 <= iterations <= MAX_ITERATIONS
    ):
        raise InvalidParameter(
            f"iterations={iterations!r} is out of range; use an integer in [1, {MAX_ITERATIONS}]"
        )
    if not m.any():
        raise InvalidParameter(
            "the seed mask is empty: no foreground was found; try the other polarity or another method"
        )
    if m.all():
        raise InvalidParameter(
            "the seed mask covers the whole image: no background was found; try the other polarity"
        )
    h, w = m.shape
    rgb = to_rgb(image)
    rgb8 = (rgb >> 8).astype(np.uint8) if rgb.dtype == np.uint16 else rgb
    scale = min(1.0, float(np.sqrt(WORK_PIXELS / (h * w))))
    wh, ww = max(1, round(h * scale)), max(1, round(w * scale))
    if scale < 1.0:
        work = cv2.resize(rgb8, (ww, wh), interpolation=cv2.INTER_AREA)
        seed8 = cv2.resize(m.view(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST)
    else:
        work, seed8 = rgb8, m.view(np.uint8)
    if not seed8.any() or seed8.all():
        return m.copy()
    radius = max(1, round(min(wh, ww) / 50))
    core = cv2.erode(seed8, _ellipse(radius), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    # The seed may be shrunken: the object can extend this far beyond it.
    near = cv2.dilate(seed8, _ellipse(max(5, round(min(wh, ww) / 8))))
    labels = np.full((wh, ww), cv2.GC_BGD, np.uint8)
    labels[near > 0] = cv2.GC_PR_BGD
    labels[seed8 > 0] = cv2.GC_PR_FGD
    labels[core > 0] = cv2.GC_FGD
    if not (labels == cv2.GC_BGD).any() and not (labels == cv2.GC_PR_BGD).any():
        return m.copy()
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    # GrabCut's colour models are k-means initialised with OpenCV's RNG: fix it so the same
    # input always gives the same cut-out.
    cv2.setRNGSeed(0)
    cv2.grabCut(
        np.ascontiguousarray(work[:, :, ::-1]),
        labels,
        (0, 0, 0, 0),  # unused with GC_INIT_WITH_MASK
        bgd_model,
        fgd_model,
        iterations,
        cv2.GC_INIT_WITH_MASK,
    )
    fg = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
    if scale < 1.0:
        fg = cv2.resize(fg, (w, h), interpolation=cv2.INTER_NEAREST)
    out: npt.NDArray[np.bool_] = fg.astype(bool)
    return out
