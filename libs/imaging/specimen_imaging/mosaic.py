"""Boxes packed into one image (a *mosaic*), so that a frame's objects are processed in one
pass instead of one call each: the measurements (:mod:`specimen_imaging.measurements`), the
batched descriptors (:mod:`specimen_imaging.descriptors_batch`) and classify's object
descriptors lay their boxes out with :func:`shelf_layout`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def shelf_layout(heights: Sequence[int], widths: Sequence[int],
                 gap: int) -> tuple[list[tuple[int, int]], int, int]:
    """Top-left corners ``(row, col)`` of boxes packed in shelves, tallest first, ``gap`` empty
    pixels between two boxes and around them all; and the mosaic's height and width.

    Examples
    --------
    >>> shelf_layout([2, 3], [4, 1], gap=1)
    ([(5, 1), (1, 1)], 8, 6)
    """
    area = sum((h + gap) * (w + gap) for h, w in zip(heights, widths, strict=True))
    limit = max(max(widths) + gap, int(math.sqrt(area) * 1.2)) + gap
    order = sorted(range(len(heights)), key=lambda i: -heights[i])
    corners: list[tuple[int, int]] = [(0, 0)] * len(heights)
    y, x, shelf, width = gap, gap, 0, 0
    for i in order:
        if x + widths[i] + gap > limit and x > gap:
            y, x, shelf = y + shelf + gap, gap, 0
        corners[i] = (y, x)
        x += widths[i] + gap
        shelf = max(shelf, heights[i])
        width = max(width, x)
    return corners, y + shelf + gap, width
