"""Generated scenes of distinct kinds: one object on a background, with the object's mask.

They fit the similarity basis (``scripts/fit_similarity_basis.py``), label the quality
figures of ``bench/similar_search.py`` and drive the tests: a scene's *kind* is what its
object is (outline, texture, colour family), its *background* one of :data:`BACKGROUNDS`,
drawn independently, so that "same object, other background" and "other object, same
background" can both be asked for. The same arguments give the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

KINDS: tuple[str, ...] = ("red-discs", "blue-stripes", "green-checker", "yellow-star",
                          "purple-rings", "gray-speckle", "cyan-triangle", "brown-blob")
BACKGROUNDS: tuple[str, ...] = ("plain-light", "gradient", "noise-dark", "weave", "sand")

# Hue (OpenCV's 0..180) of each kind's colour family.
_HUES = {"red-discs": 0, "blue-stripes": 110, "green-checker": 60, "yellow-star": 28,
         "purple-rings": 140, "gray-speckle": 0, "cyan-triangle": 90, "brown-blob": 12}


@dataclass(frozen=True)
class Scene:
    """Pixels (h, w, 3) uint8 RGB, the object's mask (h, w) bool, and what was drawn."""

    pixels: npt.NDArray[np.uint8]
    mask: npt.NDArray[np.bool_]
    kind: str
    background: str


def _colour(rng: np.random.Generator, hue: int, saturation: int, value: int) -> tuple[int, int, int]:
    h = int(np.clip(hue + rng.integers(-6, 7), 0, 179)) if hue else int(rng.integers(0, 5))
    s = int(np.clip(saturation + rng.integers(-30, 31), 0, 255))
    v = int(np.clip(value + rng.integers(-30, 31), 0, 255))
    rgb = cv2.cvtColor(np.array([[[h, s, v]]], np.uint8), cv2.COLOR_HSV2RGB)[0, 0]
    return int(rgb[0]), int(rgb[1]), int(rgb[2])


def _background(name: str, size: int, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    out: npt.NDArray[Any]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if name == "plain-light":
        base = np.array(_colour(rng, int(rng.integers(0, 180)), 25, 230), np.float32)
        out = np.broadcast_to(base, (size, size, 3)) + rng.normal(0, 2, (size, size, 1))
    elif name == "gradient":
        a = np.array(_colour(rng, int(rng.integers(0, 180)), 120, 200), np.float32)
        b = np.array(_colour(rng, int(rng.integers(0, 180)), 120, 90), np.float32)
        t = (xx * rng.uniform(0.3, 1) + yy * rng.uniform(0.3, 1))[..., None]
        out = a * (1 - t / t.max()) + b * (t / t.max())
    elif name == "noise-dark":
        noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 2)
        out = 40 + 25 * noise[..., None] * np.array([1.0, 1.0, 1.2], np.float32)
    elif name == "weave":
        period = rng.uniform(6, 10)
        wave = np.sin(2 * np.pi * xx * size / period) * np.sin(2 * np.pi * yy * size / period)
        out = np.array([150, 120, 90], np.float32) + 35 * wave[..., None]
    else:  # sand
        grains = rng.uniform(-30, 30, (size, size, 1)).astype(np.float32)
        out = np.array([205, 185, 140], np.float32) + grains
    return np.clip(out, 0, 255).astype(np.uint8)


def _object_mask(kind: str, size: int, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    canvas = np.zeros((size, size), np.uint8)
    radius = int(size * rng.uniform(0.2, 0.28))
    cy = int(rng.integers(radius + 2, size - radius - 2))
    cx = int(rng.integers(radius + 2, size - radius - 2))
    angle = rng.uniform(0, 2 * np.pi)
    if kind == "red-discs":
        for _ in range(3):
            r = int(radius * rng.uniform(0.35, 0.55))
            oy, ox = rng.integers(-radius + r, radius - r + 1, 2)
            cv2.circle(canvas, (cx + int(ox), cy + int(oy)), r, 1, -1)
    elif kind in ("yellow-star", "cyan-triangle"):
        points = 5 if kind == "yellow-star" else 3
        steps = 2 * points if kind == "yellow-star" else points
        polygon = []
        for i in range(steps):
            reach = float(radius) if i % 2 == 0 or kind != "yellow-star" else radius * 0.42
            a = angle + i * 2 * np.pi / steps
            polygon.append((cx + reach * np.cos(a), cy + reach * np.sin(a)))
        cv2.fillPoly(canvas, [np.round(np.array(polygon)).astype(np.int32)], 1)
    elif kind == "purple-rings":
        cv2.circle(canvas, (cx, cy), radius, 1, -1)
        cv2.circle(canvas, (cx, cy), int(radius * 0.55), 0, -1)
        cv2.circle(canvas, (cx, cy), int(radius * 0.3), 1, -1)
    elif kind == "brown-blob":
        axes = (radius, int(radius * rng.uniform(0.5, 0.8)))
        cv2.ellipse(canvas, (cx, cy), axes, float(np.degrees(angle)), 0, 360, 1, -1)
    else:  # stripes, checker, speckle: a rotated rectangle
        box = ((cx, cy), (2 * radius * 0.95, 2 * radius * rng.uniform(0.6, 0.95)), float(np.degrees(angle)))
        cv2.fillPoly(canvas, [np.round(cv2.boxPoints(box)).astype(np.int32)], 1)
    return canvas.astype(bool)


def _object_pixels(kind: str, size: int, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    hue = _HUES[kind]
    yy, xx = np.mgrid[0:size, 0:size]
    period = int(rng.integers(5, 8))
    if kind == "gray-speckle":
        base = np.full((size, size, 3), int(rng.integers(110, 150)), np.float32)
        return np.clip(base + rng.normal(0, 45, (size, size, 1)), 0, 255).astype(np.uint8)
    light = np.array(_colour(rng, hue, 210, 225), np.float32)
    dark = np.array(_colour(rng, hue, 230, 110), np.float32)
    if kind == "blue-stripes":
        pattern = ((xx + yy) // period) % 2
    elif kind == "green-checker":
        pattern = (xx // period + yy // period) % 2
    else:
        pattern = np.zeros((size, size), np.int64)
    out = np.where(pattern[..., None] == 1, dark, light) + rng.normal(0, 4, (size, size, 1))
    return np.clip(out, 0, 255).astype(np.uint8)


def scene(kind: str, background: str, seed: int, size: int = 128) -> Scene:
    """One object of ``kind`` on ``background``, drawn from ``seed``.

    Examples
    --------
    >>> s = scene("red-discs", "sand", 0, size=64)
    >>> s.pixels.shape, bool(0 < s.mask.mean() < 0.5)
    ((64, 64, 3), True)
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is unknown; use one of {', '.join(KINDS)}")
    if background not in BACKGROUNDS:
        raise ValueError(f"background={background!r} is unknown; use one of {', '.join(BACKGROUNDS)}")
    rng = np.random.default_rng([seed, KINDS.index(kind), BACKGROUNDS.index(background)])
    pixels = _background(background, size, rng)
    mask = _object_mask(kind, size, rng)
    pixels[mask] = _object_pixels(kind, size, rng)[mask]
    return Scene(pixels, mask, kind, background)


def corpus(count: int, seed: int, size: int = 128) -> list[Scene]:
    """``count`` scenes, kinds and backgrounds cycling independently (every pair appears)."""
    scenes = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        background = BACKGROUNDS[(i // len(KINDS)) % len(BACKGROUNDS)]
        scenes.append(scene(kind, background, seed * 1_000_003 + i, size))
    return scenes
