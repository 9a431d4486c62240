"""Connected objects of a mask (the MorphoCut / EcoTaxa use) and their crops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_imaging.arrays import check_image, check_mask, to_rgb
from specimen_imaging.thresholding import fill_holes
from specimen_kit.errors import InvalidParameter

_RENUMBER_BAND_PIXELS = 1 << 18
CONTOUR_OBJECTS = 4096
"""Up to this many outer contours in a mask, :func:`find_objects` draws them (one OpenCV call
per object, each costing its own pixels); more (a mask of noise) go through one flood fill and
one labelling of the whole image, whose cost does not grow with the objects."""
_BOXES_PER_FRAME_PASS = 4
"""Kept objects are written into a blank image box by box when their boxes hold under a
quarter of the frame's pixels (a box's compare and write cost about 4 of the frame pass's
lookups per pixel); otherwise the labels are renumbered in place through a table."""
DEFAULT_MAX_OBJECTS = 100_000
_max_objects = DEFAULT_MAX_OBJECTS


class TooManyObjects(InvalidParameter):
    """More objects than a request may measure: each costs memory and a row of the answer
    whatever its size, so a frame of specks would cost far more than its pixels (422)."""

    title = "Too many objects"
    slug = "too-many-objects"


def configure_object_limit(max_objects: int) -> None:
    """The most objects one image may hold for :func:`find_objects` (a service setting, set
    once at start-up like :func:`specimen_imaging.codecs.configure_decoder_limits`)."""
    global _max_objects
    if max_objects < 1:
        raise ValueError(f"max_objects={max_objects} must be at least 1")
    _max_objects = max_objects


@dataclass(frozen=True)
class Objects:
    """Objects found by :func:`find_objects`.

    Attributes
    ----------
    labels : ndarray of int32, (h, w)
        0 for background, ``1..count`` for the objects, numbered in raster order of their
        first pixel.
    bboxes : ndarray of int64, (count, 4)
        ``(min_row, min_col, max_row, max_col)``, max exclusive (scikit-image's ``bbox``);
        row ``i`` belongs to label ``i + 1``.
    """

    labels: npt.NDArray[np.int32]
    bboxes: npt.NDArray[np.int64]

    @property
    def count(self) -> int:
        """Number of objects."""
        return int(self.bboxes.shape[0])


def find_objects(
    mask: npt.NDArray[Any],
    *,
    min_area: int = 1,
    max_area: int | None = None,
    keep_border: bool = True,
    seeds: npt.NDArray[Any] | None = None,
) -> Objects:
    """Label the 8-connected objects of ``mask``, each with its holes filled.

    Nested objects (an object inside another's hole) become part of the outer object: the
    labels are those of the filled outer contours, and an object's area includes its holes.

    Parameters
    ----------
    mask : ndarray of bool, (h, w)
    min_area, max_area : int, int or None
        Keep objects whose filled area is within ``[min_area, max_area]``.
    keep_border : bool
        Keep objects touching the image border (False drops them, as for partial plankton).
    seeds : ndarray of bool, (h, w), optional
        Keep only the objects holding at least one seed pixel (hysteresis thresholding: the
        mask at a weak level, the seeds at the strong one).

    Examples
    --------
    >>> m = np.zeros((8, 8), bool); m[1:7, 1:7] = True; m[2:5, 2:5] = False; m[3, 3] = True
    >>> objs = find_objects(m)
    >>> objs.count, int((objs.labels == 1).sum()), objs.bboxes.tolist()
    (1, 36, [[1, 1, 7, 7]])
    """
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise InvalidParameter("mask must be a 2-D (h, w) array")
    m = check_mask(mask, mask.shape)
    if isinstance(min_area, bool) or not isinstance(min_area, int) or min_area < 0:
        raise InvalidParameter(f"min_area={min_area!r} is out of range; use an integer >= 0")
    if max_area is not None and (not isinstance(max_area, int) or max_area < max(min_area, 1)):
        raise InvalidParameter(f"max_area={max_area!r} is out of range; use an integer >= max(min_area, 1)")
    h, w = m.shape
    seed_mask = None if seeds is None else check_mask(seeds, m.shape)
    outlines, _ = cv2.findContours(m.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if len(outlines) <= CONTOUR_OBJECTS:
        return _objects_of_outlines(outlines, (h, w), min_area, max_area, keep_border, seed_mask)
    # Block-based labelling with its statistics is ~3x faster than the default's (whose stats
    # pass dominated a frame's labelling); its numbering follows 2x2 blocks, so the objects are
    # renumbered below in raster order of their first pixel, as documented.
    n, found, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        fill_holes(m).view(np.uint8), 8, cv2.CV_32S, cv2.CCL_GRANA
    )
    x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    bw, bh = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    labels: npt.NDArray[np.int32] = np.asarray(found)
    area = stats[:, cv2.CC_STAT_AREA]
    keep = area >= min_area
    if max_area is not None:
        keep &= area <= max_area
    if not keep_border:
        keep &= (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
    if seed_mask is not None:
        seeded = np.zeros(n, bool)
        seeded[labels.ravel()[np.flatnonzero(seed_mask)]] = True
        keep &= seeded
    keep[0] = False
    count = int(keep.sum())
    _check_count(count)
    kept = np.flatnonzero(keep)
    # Each object's first pixel in raster order: the leftmost of its label on its top row.
    first = np.array([int(np.argmax(labels[top] == k)) for k, top in zip(kept.tolist(), y[kept].tolist(),
                                                                           strict=True)], np.int64)
    kept = kept[np.lexsort((first, y[kept]))]
    lut = np.zeros(n, np.int32)
    lut[kept] = np.arange(1, count + 1, dtype=np.int32)
    bboxes = np.stack([y, x, y + bh, x + bw], axis=1)[kept].astype(np.int64)
    if not keep[1:].all() or not np.array_equal(kept, np.arange(1, n)):
        box_pixels = int(((bboxes[:, 2] - bboxes[:, 0]) * (bboxes[:, 3] - bboxes[:, 1])).sum())
        if box_pixels * _BOXES_PER_FRAME_PASS < h * w:
            # Few kept objects in small boxes (a plankton frame: 1.5 % of its pixels): a blank
            # image with each kept object written into its box, instead of a pass over the frame.
            renumbered = np.zeros((h, w), np.int32)
            for k, (old, (r0, c0, r1, c1)) in enumerate(zip(kept.tolist(), bboxes.tolist(), strict=True)):
                renumbered[r0:r1, c0:c1][labels[r0:r1, c0:c1] == old] = k + 1
            return Objects(renumbered, bboxes)
        # Renumbered in place, a band of rows at a time: ``lut[labels]`` at once was a second
        # full-size int32 image at the pipeline's peak (issue 9, finding 6).
        rows = max(1, _RENUMBER_BAND_PIXELS // max(w, 1))
        for r0 in range(0, h, rows):
            band = labels[r0 : r0 + rows]
            band[...] = lut[band]
    return Objects(labels, bboxes)


def _check_count(count: int) -> None:
    if count > _max_objects:
        # Refused before anything is measured, cropped or written out (issue 9, finding 6).
        raise TooManyObjects(
            f"the image holds {count} objects, more than the limit of {_max_objects}; raise "
            "min_area, open the mask (opening_radius) or send a smaller image")


def _objects_of_outlines(
    outlines: Any,
    shape: tuple[int, int],
    min_area: int,
    max_area: int | None,
    keep_border: bool,
    seeds: npt.NDArray[np.bool_] | None,
) -> Objects:
    """:func:`find_objects` from the mask's outer contours: each 8-connected object's outline
    drawn filled is the object with its holes filled (and any object inside them), so a
    frame's few objects cost their own pixels rather than a flood fill and a labelling of
    the whole frame. Box, border and box-area tests drop objects before they are drawn."""
    h, w = shape
    n = len(outlines)
    if n == 0:
        return Objects(np.zeros((h, w), np.int32), np.zeros((0, 4), np.int64))
    rects = np.array([cv2.boundingRect(c) for c in outlines], np.int64).reshape(n, 4)
    x, y, bw, bh = rects[:, 0], rects[:, 1], rects[:, 2], rects[:, 3]
    drawn = bw * bh >= min_area  # an object's area is at most its box's
    if not keep_border:
        drawn &= (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
    kept: list[int] = []
    first: list[int] = []
    shapes: list[npt.NDArray[np.bool_]] = []
    for i in np.flatnonzero(drawn).tolist():
        r0, c0, r1, c1 = int(y[i]), int(x[i]), int(y[i] + bh[i]), int(x[i] + bw[i])
        # The object alone in its box (another object inside its box is not drawn there).
        canvas = np.zeros((r1 - r0, c1 - c0), np.uint8)
        cv2.drawContours(canvas, (outlines[i],), 0, 1, thickness=cv2.FILLED, offset=(-c0, -r0))
        own = canvas.view(bool)
        area = int(np.count_nonzero(own))
        if area < min_area or (max_area is not None and area > max_area):
            continue
        if seeds is not None and not seeds[r0:r1, c0:c1][own].any():
            continue
        kept.append(i)
        first.append(int(np.argmax(own[0])))
        shapes.append(own)
    _check_count(len(kept))
    order = np.lexsort((np.array(first, np.int64) + x[kept], y[kept])).tolist() if kept else []
    chosen = np.array(kept, np.int64)[order]
    bboxes = np.stack([y, x, y + bh, x + bw], axis=1)[chosen].astype(np.int64).reshape(-1, 4)
    labels = np.zeros((h, w), np.int32)
    for k, (index, (r0, c0, r1, c1)) in enumerate(zip(order, bboxes.tolist(), strict=True)):
        labels[r0:r1, c0:c1][shapes[index]] = k + 1
    return Objects(labels, bboxes)


def object_crop(
    image: npt.NDArray[Any],
    mask: npt.NDArray[Any],
    bbox: tuple[int, int, int, int] | npt.NDArray[Any],
    padding: int = 0,
    fade_background: float = 0.0,
) -> npt.NDArray[Any]:
    """Crop one object, with ``padding`` pixels around its bbox (clipped to the image).

    Parameters
    ----------
    image : ndarray, (h, w) or (h, w, 3|4), uint8 or uint16
        The frame; the crop is RGB with the frame's dtype.
    mask : ndarray of bool, (h, w)
        The object's pixels in the whole frame, e.g. ``objects.labels == k``.
    bbox : (min_row, min_col, max_row, max_col)
        Max exclusive, as :attr:`Objects.bboxes`.
    padding : int
        >= 0.
    fade_background : float
        In [0, 1]: how far pixels outside the object are blended towards white (0 = unchanged,
        1 = white).

    Examples
    --------
    >>> img = np.zeros((5, 5), np.uint8); m = np.zeros((5, 5), bool); m[2, 2] = True
    >>> object_crop(img, m, (2, 2, 3, 3), padding=1, fade_background=1.0)[..., 0].tolist()
    [[255, 255, 255], [255, 0, 255], [255, 255, 255]]
    """
    image = check_image(image)
    m = check_mask(mask, image.shape)
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise InvalidParameter(f"padding={padding!r} is out of range; use an integer >= 0")
    if not 0.0 <= float(fade_background) <= 1.0:
        raise InvalidParameter(f"fade_background={fade_background} is out of range; use a value in [0, 1]")
    r0, c0, r1, c1 = (int(v) for v in bbox)
    h, w = m.shape
    if not (0 <= r0 < r1 <= h and 0 <= c0 < c1 <= w):
        raise InvalidParameter(f"bbox={(r0, c0, r1, c1)} is not inside the {h}x{w} image")
    r0, c0, r1, c1 = max(r0 - padding, 0), max(c0 - padding, 0), min(r1 + padding, h), min(c1 + padding, w)
    crop = to_rgb(image[r0:r1, c0:c1])
    if fade_background > 0:
        top = float(np.iinfo(image.dtype).max)
        outside = ~m[r0:r1, c0:c1]
        faded = crop[outside].astype(np.float64) * (1 - fade_background) + top * fade_background
        crop[outside] = np.round(faded).astype(image.dtype)
    return crop
