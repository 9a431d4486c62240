"""Tiles of a large frame: a standard image pyramid of 256-pixel PNG tiles.

Level ``z = max_zoom`` is the frame at full resolution; each level below halves it, and
``z = 0`` is the whole frame downscaled to fit one tile (a frame no larger than a tile has only
level 0, at its own size). Tile ``(x, y)`` of level ``z`` covers columns ``x*256 … x*256+255``
and rows ``y*256 …`` of that level's image; the tiles on the right and bottom edges are padded
to 256 pixels with transparent pixels (RGBA, RGB 0 where A is 0), as web map viewers expect
(so is level 0 of a frame smaller than a tile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from specimen_classify.domain.errors import TileNotFound

TILE_SIZE = 256


def max_zoom(width: int, height: int, tile: int = TILE_SIZE) -> int:
    """The full-resolution level: the least ``z`` with ``max(width, height) <= tile * 2**z``.

    >>> max_zoom(256, 100), max_zoom(257, 10), max_zoom(4096, 3000)
    (0, 1, 4)
    """
    side = max(width, height, 1)
    return max(0, math.ceil(math.log2(side / tile))) if side > tile else 0


@dataclass(frozen=True)
class TileWindow:
    """Where a tile comes from: the full-resolution rectangle and the size it is scaled to."""

    row0: int
    col0: int
    row1: int
    col1: int
    height: int
    width: int


def tile_window(width: int, height: int, z: int, x: int, y: int,
                tile: int = TILE_SIZE) -> TileWindow:
    """The source rectangle of tile ``(z, x, y)``; :class:`TileNotFound` outside the pyramid.

    >>> tile_window(1000, 600, 0, 0, 0)
    TileWindow(row0=0, col0=0, row1=600, col1=1000, height=150, width=250)
    """
    top = max_zoom(width, height, tile)
    if z > top:
        raise TileNotFound(f"zoom {z} is beyond the frame's deepest level {top}")
    factor = 2 ** (top - z)
    level_w, level_h = math.ceil(width / factor), math.ceil(height / factor)
    columns, rows = math.ceil(level_w / tile), math.ceil(level_h / tile)
    if x >= columns or y >= rows:
        raise TileNotFound(f"tile ({x}, {y}) is outside level {z}, which has {columns} x {rows} "
                           "tiles (x < columns, y < rows)")
    col0, row0 = x * tile * factor, y * tile * factor
    col1, row1 = min(width, col0 + tile * factor), min(height, row0 + tile * factor)
    return TileWindow(row0, col0, row1, col1, height=max(1, math.ceil((row1 - row0) / factor)),
                      width=max(1, math.ceil((col1 - col0) / factor)))


def _rgba(pixels: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    if pixels.dtype != np.uint8:
        pixels = (pixels.astype(np.float64) / 257.0).round().clip(0, 255).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.shape[2] == 3:
        alpha = np.full((*pixels.shape[:2], 1), 255, np.uint8)
        pixels = np.concatenate([pixels, alpha], axis=2)
    return np.ascontiguousarray(pixels.astype(np.uint8))


def render_tile(pixels: npt.NDArray[Any], z: int, x: int, y: int,
                tile: int = TILE_SIZE) -> npt.NDArray[np.uint8]:
    """Tile ``(z, x, y)`` of ``pixels`` (gray, RGB or RGBA; uint8 or uint16) as RGBA uint8 of
    ``tile`` x ``tile`` pixels (the part outside the frame transparent).

    >>> render_tile(np.zeros((600, 1000), np.uint8), 0, 0, 0).shape
    (256, 256, 4)
    """
    height, width = pixels.shape[:2]
    window = tile_window(width, height, z, x, y, tile)
    source = pixels[window.row0:window.row1, window.col0:window.col1]
    if source.shape[:2] != (window.height, window.width):
        source = cv2.resize(source, (window.width, window.height), interpolation=cv2.INTER_AREA)
    rgba = _rgba(np.asarray(source))
    out = np.zeros((tile, tile, 4), np.uint8)
    out[:window.height, :window.width] = rgba
    return out
