"""Held-out plankton vignettes: one object's crop as EcoTaxa and the imaging instruments store it.

Written apart from the training generator, from what real vignettes look like. Each crop is one
object of the product's five categories, drawn as an opacity map and composed over a background
in one of four instrument styles:

- ``zooscan``: gray, a light and slightly uneven background, a generous margin, often the
  ZooProcess scale bar with its label in a corner;
- ``uvp``: gray, a tight crop; the object dark on light (as EcoTaxa shows UVP vignettes) or,
  as the camera records it, bright on a black background;
- ``flowcam``: RGB, a tight crop on a gray-blue, vignetted background; the object tinted
  (chlorophyll green or fecal brown) and often touched by another particle;
- ``camera``: gray or RGB photographs of a sample, a darker and more uneven background.

Objects are translucent where real ones are (phytoplankton aggregates, single cells), opaque
where real ones are (fecal pellets); thin spines and setae, attached debris, a neighbour cut
off by the crop's edge, sensor noise and JPEG or PNG storage follow. The categories:

- ``phytoplankton aggregates``: loose, porous, fluffy marine snow with embedded cells and
  diatom chains and frayed filaments;
- ``fecal aggregates``: compact, dark, irregular clumps with pellet fragments inside;
- ``single cells``: centric and pennate diatoms, dinoflagellates with horns, radiolarians with
  radial spines, a diatom with long setae;
- ``cylindrical fecal pellets``: rods with rounded (sometimes broken) ends, straight or bent,
  a lighter peritrophic membrane;
- ``ovoid fecal pellets``: smooth, dense ellipsoids or eggs with a granular texture.

:func:`heldout_plankton_crop` returns one crop; :func:`write_heldout_plankton` writes the
per-class folders the plankton trainer and evaluator read (folder names as the training
generator's, so a model trained on it scores these crops by category).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Seed = int | Sequence[int]
FloatImage = npt.NDArray[np.float32]

CATEGORIES = (
    "phytoplankton aggregates",
    "fecal aggregates",
    "single cells",
    "cylindrical fecal pellets",
    "ovoid fecal pellets",
)
FOLDER_NAMES = {category: category.replace(" ", "_") for category in CATEGORIES}
"""Folder of each category: the names the plankton trainer maps back to these categories."""
STYLES = ("zooscan", "uvp", "flowcam", "camera")
CELL_KINDS = ("centric_diatom", "pennate_diatom", "dinoflagellate", "radiolarian", "setose_diatom")


def _rng(seed: Seed) -> np.random.Generator:
    entropy = [int(seed)] if isinstance(seed, int | np.integer) else [int(s) for s in seed]
    return np.random.default_rng([0x91A7, *entropy])


def _smooth(rng: np.random.Generator, shape: tuple[int, int], cells: float) -> FloatImage:
    """Zero-mean, unit-deviation noise varying over about ``shape / cells`` pixels."""
    n = max(2, int(cells))
    coarse = rng.standard_normal((n + 2, n + 2)).astype(np.float32)
    field = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.asarray((field - field.mean()) / (field.std() + 1e-6), np.float32)


def _polar_blob(
    shape: tuple[int, int],
    centre: tuple[float, float],
    radius: float,
    rng: np.random.Generator,
    irregularity: float,
    harmonics: int = 7,
    aspect: float = 1.0,
    angle: float = 0.0,
) -> FloatImage:
    """Antialiased star-shaped blob (1 inside), with random radial harmonics."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    dy, dx = rows - centre[0], cols - centre[1]
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * dx + s * dy, (-s * dx + c * dy) * aspect
    rho, theta = np.hypot(u, v), np.arctan2(v, u)
    edge = np.ones_like(rho)
    for k in range(2, harmonics + 2):
        edge += irregularity * rng.uniform(0, 1) / k**0.9 * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.asarray(np.clip(radius * edge - rho + 0.5, 0, 1), np.float32)


def _line(canvas: FloatImage, points: npt.NDArray[np.float64], width: float, value: float) -> None:
    """Draw an antialiased polyline (in place, keeping the maximum)."""
    layer = np.zeros_like(canvas)
    cv2.polylines(
        layer,
        [np.rint(points * 16).astype(np.int32)],
        False,
        float(value),
        max(1, round(width)),
        cv2.LINE_AA,
        shift=4,
    )
    np.maximum(canvas, layer, out=canvas)


def _walk(
    rng: np.random.Generator,
    start: tuple[float, float],
    heading: float,
    length: float,
    wiggle: float,
    steps: int = 10,
) -> npt.NDArray[np.float64]:
    """A random-walk curve of ``length`` pixels as (x, y) points."""
    points = [start]
    x, y = start
    for _ in range(steps):
        heading += rng.normal(0, wiggle)
        x += math.cos(heading) * length / steps
        y += math.sin(heading) * length / steps
        points.append((x, y))
    return np.asarray(points, np.float64)


# Objects: an opacity map (0 clear, 1 opaque) and a texture, on a square canvas -----------------


def _phyto_aggregate(rng: np.random.Generator, side: int) -> tuple[FloatImage, dict[str, Any]]:
    shape = (side, side)
    centre = (side / 2, side / 2)
    envelope = _polar_blob(
        shape,
        centre,
        side * rng.uniform(0.28, 0.38),
        rng,
        0.6,
        9,
        aspect=rng.uniform(0.7, 1.4),
        angle=rng.uniform(0, np.pi),
    )
    envelope = np.asarray(cv2.GaussianBlur(envelope, (0, 0), side * 0.03), np.float32)
    # Fluff: several octaves of noise, continuous (no hard pores), denser clumps here and there.
    porous = (
        0.6 * _smooth(rng, shape, 4)
        + 0.45 * _smooth(rng, shape, side / rng.uniform(8, 14))
        + 0.3 * _smooth(rng, shape, side / rng.uniform(3, 5))
    )
    fluff = 1 / (1 + np.exp(-(porous * rng.uniform(1.5, 3.0) + rng.uniform(-0.5, 0.5))))
    density = np.clip((envelope - 0.3) * 2.2, 0, 1) * fluff
    opacity = np.asarray(cv2.GaussianBlur(density, (0, 0), 0.8), np.float32) * rng.uniform(0.35, 0.7)
    # Embedded cells (dark specks) and diatom chains (short rods of beads).
    inside = np.argwhere(envelope > 0.6)
    for _ in range(int(rng.integers(5, 30))):
        r, c = inside[int(rng.integers(len(inside)))]
        cv2.circle(
            opacity,
            (int(c), int(r)),
            int(rng.integers(1, max(2, side // 60) + 1)),
            float(rng.uniform(0.6, 0.95)),
            -1,
            cv2.LINE_AA,
        )
    for _ in range(int(rng.integers(0, 4))):
        r, c = inside[int(rng.integers(len(inside)))]
        chain = _walk(
            rng, (float(c), float(r)), rng.uniform(0, 2 * np.pi), side * rng.uniform(0.1, 0.3), 0.15, 8
        )
        _line(opacity, chain, max(2, side / 80), float(rng.uniform(0.5, 0.8)))
    # Frayed filaments leaving the aggregate.
    edge = np.argwhere((envelope > 0.3) & (envelope < 0.6))
    for _ in range(int(rng.integers(3, 12))):
        r, c = edge[int(rng.integers(len(edge)))]
        heading = math.atan2(r - centre[0], c - centre[1]) + rng.normal(0, 0.6)
        _line(
            opacity,
            _walk(rng, (float(c), float(r)), heading, side * rng.uniform(0.05, 0.18), 0.5),
            1,
            float(rng.uniform(0.25, 0.5)),
        )
    return opacity, {"tint": "green"}


def _fecal_aggregate(rng: np.random.Generator, side: int) -> tuple[FloatImage, dict[str, Any]]:
    shape = (side, side)
    opacity = np.zeros(shape, np.float32)
    radius = side * rng.uniform(0.16, 0.26)
    for _ in range(int(rng.integers(4, 10))):
        offset = rng.normal(0, radius * 0.5, 2)
        part = _polar_blob(
            shape, (side / 2 + offset[0], side / 2 + offset[1]), radius * rng.uniform(0.4, 0.8), rng, 0.5, 8
        )
        opacity = np.maximum(opacity, part)
    texture = np.clip(0.8 + 0.2 * _smooth(rng, shape, side / 8) + 0.1 * _smooth(rng, shape, side / 3), 0.4, 1)
    opacity = cv2.GaussianBlur(opacity, (0, 0), 1.2) * texture * rng.uniform(0.75, 0.95)
    # Fragments of pellets inside: darker small ellipses and rods.
    inside = np.argwhere(opacity > 0.6)
    for _ in range(int(rng.integers(2, 8))):
        r, c = inside[int(rng.integers(len(inside)))]
        axes = (int(rng.uniform(0.04, 0.1) * side), int(rng.uniform(0.02, 0.04) * side) + 1)
        cv2.ellipse(opacity, (int(c), int(r)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 5))):  # loose bits at the edge
        r, c = inside[int(rng.integers(len(inside)))]
        heading = rng.uniform(0, 2 * np.pi)
        _line(
            opacity,
            _walk(rng, (float(c), float(r)), heading, side * rng.uniform(0.1, 0.25), 0.4, 6),
            max(1, side / 100),
            float(rng.uniform(0.4, 0.7)),
        )
    return opacity, {"tint": "brown"}


def _single_cell(rng: np.random.Generator, side: int) -> tuple[FloatImage, dict[str, Any]]:
    shape = (side, side)
    kind = str(rng.choice(CELL_KINDS))
    centre = (side / 2 + rng.normal(0, side * 0.03), side / 2 + rng.normal(0, side * 0.03))
    opacity = np.zeros(shape, np.float32)
    angle = rng.uniform(0, np.pi)
    if kind == "centric_diatom":
        radius = side * rng.uniform(0.18, 0.3)
        body = _polar_blob(shape, centre, radius, rng, 0.03)
        rim = body - _polar_blob(shape, centre, radius * rng.uniform(0.8, 0.9), rng, 0.02)
        rows, cols = np.mgrid[0:side, 0:side].astype(np.float32)
        spokes = 0.5 + 0.5 * np.cos(
            np.arctan2(rows - centre[0], cols - centre[1]) * int(rng.integers(12, 40))
        )
        opacity = body * rng.uniform(0.15, 0.35) * (0.8 + 0.2 * spokes) + rim * rng.uniform(0.4, 0.7)
    elif kind == "pennate_diatom":
        body = _polar_blob(
            shape, centre, side * rng.uniform(0.3, 0.42), rng, 0.02, aspect=rng.uniform(3, 7), angle=angle
        )
        ribs = 0.5 + 0.5 * np.cos(
            np.mgrid[0:side, 0:side][1] * math.cos(angle) * 1.2
            + np.mgrid[0:side, 0:side][0] * math.sin(angle) * 1.2
        )
        opacity = body * (rng.uniform(0.3, 0.5) + 0.15 * ribs)
        opacity = np.maximum(opacity, (body - cv2.erode(body, np.ones((3, 3), np.uint8))) * 0.7)
    elif kind == "dinoflagellate":
        radius = side * rng.uniform(0.12, 0.18)
        body = _polar_blob(shape, centre, radius, rng, 0.15, aspect=rng.uniform(0.8, 1.2), angle=angle)
        opacity = body * rng.uniform(0.4, 0.65)
        for horn in range(3):  # Tripos: an apical horn and two antapical ones curving forward
            heading = angle + (0 if horn == 0 else math.pi + (1 if horn == 1 else -1) * rng.uniform(0.3, 0.8))
            length = side * rng.uniform(0.2, 0.38)
            start = (
                centre[1] + math.cos(heading) * radius * 0.8,
                centre[0] + math.sin(heading) * radius * 0.8,
            )
            path = _walk(rng, start, heading, length, 0.12, 8)
            for i in range(len(path) - 1):
                width = max(1.0, radius * 0.45 * (1 - i / len(path)))
                _line(opacity, path[i : i + 2], width, float(rng.uniform(0.45, 0.6)))
        opacity = np.maximum(opacity, cv2.GaussianBlur(opacity, (0, 0), 0.8) * 0.9)
    elif kind == "radiolarian":
        radius = side * rng.uniform(0.14, 0.22)
        body = _polar_blob(shape, centre, radius, rng, 0.05)
        core = _polar_blob(shape, centre, radius * 0.5, rng, 0.1)
        opacity = body * rng.uniform(0.2, 0.4) + core * rng.uniform(0.2, 0.4)
        for spine in range(int(rng.integers(10, 30))):
            heading = spine * 2 * math.pi / 20 + rng.normal(0, 0.1)
            start = (centre[1] + math.cos(heading) * radius, centre[0] + math.sin(heading) * radius)
            _line(
                opacity,
                _walk(rng, start, heading, side * rng.uniform(0.1, 0.3), 0.03, 3),
                1,
                float(rng.uniform(0.35, 0.6)),
            )
    else:  # setose diatom: a cell with long curved setae (Chaetoceros)
        body = _polar_blob(
            shape,
            centre,
            side * rng.uniform(0.09, 0.14),
            rng,
            0.05,
            aspect=rng.uniform(1.3, 2.0),
            angle=angle,
        )
        opacity = body * rng.uniform(0.45, 0.7)
        for seta in range(4):
            heading = angle + math.pi / 2 * (1 if seta % 2 else -1) + (0.5 if seta < 2 else -0.5)
            path = _walk(rng, (centre[1], centre[0]), heading, side * rng.uniform(0.3, 0.45), 0.12, 10)
            _line(opacity, path, 1, float(rng.uniform(0.3, 0.5)))
    # Chloroplasts: a few darker specks inside translucent cells.
    inside = np.argwhere(opacity > 0.15)
    for _ in range(int(rng.integers(0, 8))):
        r, c = inside[int(rng.integers(len(inside)))]
        cv2.circle(
            opacity, (int(c), int(r)), max(1, side // 70), float(rng.uniform(0.5, 0.8)), -1, cv2.LINE_AA
        )
    return np.clip(opacity, 0, 1), {"cell": kind, "tint": "green"}


def _capsule(
    side: int, rng: np.random.Generator, length: float, width: float, bend: float, angle: float
) -> FloatImage:
    """A rod of constant width along a gently bent arc, ends rounded."""
    n = 24
    t = np.linspace(-0.5, 0.5, n)
    xs, ys = t * length, bend * length * (t * t - 0.25)
    c, s = math.cos(angle), math.sin(angle)
    points = np.stack([side / 2 + c * xs - s * ys, side / 2 + s * xs + c * ys], axis=1)
    layer = np.zeros((side, side), np.float32)
    cv2.polylines(
        layer, [np.rint(points * 16).astype(np.int32)], False, 1.0, max(2, round(width)), cv2.LINE_AA, shift=4
    )
    return layer


def _cylindrical_pellet(rng: np.random.Generator, side: int) -> tuple[FloatImage, dict[str, Any]]:
    length = side * rng.uniform(0.55, 0.8)
    width = length / rng.uniform(3.5, 11)
    angle = rng.uniform(0, np.pi)
    body = _capsule(side, rng, length, width, rng.uniform(-0.25, 0.25) if rng.random() < 0.5 else 0.0, angle)
    broken = rng.random() < 0.3
    if broken:  # one end snapped off square
        rows, cols = np.mgrid[0:side, 0:side].astype(np.float32)
        along = (cols - side / 2) * math.cos(angle) + (rows - side / 2) * math.sin(angle)
        body *= (along < length * rng.uniform(0.3, 0.45)).astype(np.float32)
    core = cv2.erode(body, np.ones((3, 3), np.uint8), iterations=max(1, int(width * 0.12)))
    texture = np.clip(
        1 + 0.08 * _smooth(np.random.default_rng(rng.integers(1 << 31)), body.shape, side / 6), 0.8, 1.1
    )
    opacity = (0.55 * body + 0.4 * core) * texture * rng.uniform(0.85, 1.0)
    return np.clip(opacity, 0, 1), {"broken": bool(broken), "tint": "brown"}


def _ovoid_pellet(rng: np.random.Generator, side: int) -> tuple[FloatImage, dict[str, Any]]:
    radius = side * rng.uniform(0.2, 0.32)
    aspect = rng.uniform(1.25, 2.3)
    body = _polar_blob(
        (side, side), (side / 2, side / 2), radius, rng, 0.04, 4, aspect=aspect, angle=rng.uniform(0, np.pi)
    )
    if rng.random() < 0.4:  # egg: one end blunter
        rows = np.mgrid[0:side, 0:side][0].astype(np.float32)
        body *= np.clip(1.2 - 0.3 * (rows - side / 2) / radius, 0, 1) > 0.3
    grains = 0.85 + 0.15 * np.clip(_smooth(rng, body.shape, side / 3), -1, 1)
    shading = cv2.GaussianBlur(body, (0, 0), max(1.0, radius * 0.25))  # thicker in the middle: denser
    opacity = body * (0.6 + 0.4 * shading) * grains * rng.uniform(0.85, 1.0)
    return np.clip(opacity, 0, 1), {"aspect": round(float(aspect), 2), "tint": "brown"}


_DRAW = {
    "phytoplankton aggregates": (_phyto_aggregate, (90, 360)),
    "fecal aggregates": (_fecal_aggregate, (80, 320)),
    "single cells": (_single_cell, (50, 220)),
    "cylindrical fecal pellets": (_cylindrical_pellet, (70, 380)),
    "ovoid fecal pellets": (_ovoid_pellet, (50, 200)),
}
"""How to draw each category, and the side of its canvas in pixels (the crop follows)."""


# Composition ------------------------------------------------------------------------------------


def _background(
    rng: np.random.Generator, shape: tuple[int, int], style: str, bright_object: bool
) -> FloatImage:
    if bright_object:
        level = rng.uniform(0, 25)
    elif style == "camera":
        level = rng.uniform(140, 200)
    elif style == "flowcam":
        level = rng.uniform(175, 215)
    else:
        level = rng.uniform(200, 245)
    unevenness = rng.uniform(2, 10) if not bright_object else rng.uniform(0.5, 3)
    field = level + unevenness * _smooth(rng, shape, 3)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    if style in ("flowcam", "camera") and not bright_object:  # vignetting of the optics
        r2 = (rows / shape[0] - rng.uniform(0.3, 0.7)) ** 2 + (cols / shape[1] - rng.uniform(0.3, 0.7)) ** 2
        field -= rng.uniform(5, 25) * r2 * 2
    field += rng.normal(0, 0.02) * (rows - shape[0] / 2) + rng.normal(0, 0.02) * (cols - shape[1] / 2)
    return field.astype(np.float32)


def _debris(rng: np.random.Generator, opacity: FloatImage, touching: bool) -> None:
    """Small particles near the object, touching it when ``touching``; a neighbour cut by the edge."""
    side = opacity.shape[0]
    solid = np.argwhere(opacity > 0.3)
    for _ in range(int(rng.integers(1, 4))):
        if touching and len(solid):
            r, c = solid[int(rng.integers(len(solid)))]
            r, c = r + rng.normal(0, side * 0.05), c + rng.normal(0, side * 0.05)
        else:
            r, c = rng.uniform(0, side, 2)
        blob = _polar_blob(opacity.shape, (float(r), float(c)), side * rng.uniform(0.015, 0.05), rng, 0.5, 5)
        np.maximum(opacity, blob * rng.uniform(0.4, 0.9), out=opacity)


def _scale_bar(rng: np.random.Generator, image: npt.NDArray[np.uint8], ink: int) -> None:
    h, w = image.shape[:2]
    length = int(w * rng.uniform(0.15, 0.35))
    thickness = max(1, h // 100)
    x0, y0 = int(w * 0.04), int(h * 0.95)
    color = (ink,) * (3 if image.ndim == 3 else 1)
    cv2.rectangle(image, (x0, y0 - thickness), (x0 + length, y0), color, -1)
    label = str(rng.choice(["1 mm", "500 um", "100 um", "200 um", "2 mm"]))
    cv2.putText(
        image,
        label,
        (x0, y0 - thickness - 3),
        cv2.FONT_HERSHEY_PLAIN,
        max(0.5, w / 350),
        color,
        1,
        cv2.LINE_AA,
    )


_TINTS = {"green": ((0.6, 0.3, 0.55), (0.85, 0.45, 0.85)), "brown": ((0.25, 0.4, 0.65), (0.4, 0.55, 0.9))}
"""Absorbance of the object per RGB channel (low, high): chlorophyll takes red and blue and lets
green through; fecal matter takes blue most and red least (brown)."""


def heldout_plankton_crop(
    seed: Seed, category: str | None = None
) -> tuple[npt.NDArray[np.uint8], str, dict[str, Any]]:
    """One plankton vignette: pixels, category and how it was made.

    Parameters
    ----------
    seed : int or sequence of int
    category : str, optional
        One of :data:`CATEGORIES`; drawn from the seed when None.

    Returns
    -------
    image : ndarray of uint8, (h, w) gray or (h, w, 3) RGB, 50 to 400 pixels a side
        Before JPEG compression for the JPEG crops (:func:`encode_crop` compresses them).
    category : str
    meta : dict
        ``style``, ``bright_object``, ``format``, ``jpeg_quality``, ``scale_bar``, ``debris``, …

    Examples
    --------
    >>> image, category, meta = heldout_plankton_crop(1, "ovoid fecal pellets")
    >>> category, image.dtype, 50 <= min(image.shape[:2])
    ('ovoid fecal pellets', dtype('uint8'), True)
    """
    rng = _rng(seed)
    if category is None:
        category = str(rng.choice(CATEGORIES))
    if category not in _DRAW:
        raise ValueError(f"category {category!r} is unknown; use one of {', '.join(CATEGORIES)}")
    draw, (low, high) = _DRAW[category]
    side = int(rng.uniform(low, high))
    opacity, meta = draw(rng, side)
    style = str(rng.choice(STYLES, p=[0.35, 0.25, 0.28, 0.12]))
    bright = style == "uvp" and rng.random() < 0.45
    meta.update(style=style, bright_object=bool(bright))
    debris = rng.random() < 0.45
    meta["debris"] = bool(debris)
    if debris:
        _debris(rng, opacity, touching=rng.random() < 0.6)
    # Crop: around the object, with the instrument's margin (ZooScan's is wide, FlowCam's tight).
    rows, cols = np.nonzero(opacity > 0.05)
    margin = {"zooscan": (0.15, 0.5), "uvp": (0.05, 0.2), "flowcam": (0.02, 0.12), "camera": (0.1, 0.3)}[
        style
    ]
    pad = [int(side * rng.uniform(*margin)) for _ in range(4)]
    padded = cv2.copyMakeBorder(opacity, pad[0], pad[1], pad[2], pad[3], cv2.BORDER_CONSTANT, value=0.0)
    # In the padded canvas the object spans rows.min() + pad[0] .. rows.max() + pad[0].
    alpha = padded[
        rows.min() : rows.max() + 1 + pad[0] + pad[1], cols.min() : cols.max() + 1 + pad[2] + pad[3]
    ]
    h, w = alpha.shape
    if min(h, w) < 50 or max(h, w) > 400:  # the crop's side is 50 to 400 px, as the instruments cut them
        grow = max(50 / min(h, w), 1.0) if min(h, w) < 50 else 400 / max(h, w)
        alpha = cv2.resize(
            alpha, (max(50, round(w * grow)), max(50, round(h * grow))), interpolation=cv2.INTER_AREA
        )
        alpha = np.ascontiguousarray(alpha[:400, :400])
        h, w = alpha.shape
    background = _background(rng, (h, w), style, bright)
    colour = style == "flowcam" or (style == "camera" and rng.random() < 0.5)
    if bright:
        lit = rng.uniform(120, 250)
        gray = background + alpha * (lit - background) * (0.9 + 0.2 * _smooth(rng, (h, w), 6).clip(-1, 1))
        image: FloatImage = np.asarray(np.repeat(gray[:, :, None], 3 if colour else 1, axis=2), np.float32)
    else:
        darkest = rng.uniform(0.02, 0.25)  # the transmission of a fully opaque part
        absorb = alpha * (1 - darkest)
        if colour:
            low_tint, high_tint = _TINTS[str(meta["tint"])]
            tint = np.array([rng.uniform(a, b) for a, b in zip(low_tint, high_tint, strict=True)], np.float32)
            absorb3 = absorb[:, :, None] * (0.55 + 0.45 * tint[None, None, :] / tint.max())
            cast = np.array(
                [rng.uniform(0.93, 1.0), rng.uniform(0.96, 1.02), rng.uniform(1.0, 1.08)], np.float32
            )
            image = background[:, :, None] * cast[None, None, :] * (1 - absorb3)
        else:
            image = (background * (1 - absorb))[:, :, None]
    if rng.random() < 0.3:  # slightly out of focus
        blurred = cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), rng.uniform(0.6, 1.5))
        image = np.asarray(blurred, np.float32).reshape(image.shape)
    image = image + rng.normal(0, rng.uniform(0.8, 4.0), image.shape).astype(np.float32)
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if pixels.shape[2] == 1:
        pixels = np.ascontiguousarray(pixels[:, :, 0])
    meta["scale_bar"] = bool(style == "zooscan" and rng.random() < 0.6 and min(h, w) >= 80)
    if meta["scale_bar"]:
        _scale_bar(rng, pixels, 255 if bright else 0)
    fmt = "jpeg" if rng.random() < 0.6 else "png"
    meta.update(
        format=fmt,
        jpeg_quality=int(rng.integers(70, 98)) if fmt == "jpeg" else None,
        colour=bool(pixels.ndim == 3),
        size=[int(pixels.shape[0]), int(pixels.shape[1])],
    )
    return pixels, category, meta


def encode_crop(image: npt.NDArray[np.uint8], meta: dict[str, Any]) -> tuple[bytes, str]:
    """The crop's file bytes and extension (``.jpg`` or ``.png``) as ``meta["format"]`` says."""
    pixels = image[:, :, ::-1] if image.ndim == 3 else image  # OpenCV writes BGR
    if meta["format"] == "jpeg":
        ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(meta["jpeg_quality"])])
        extension = ".jpg"
    else:
        ok, data = cv2.imencode(".png", pixels)
        extension = ".png"
    if not ok:
        raise OSError("could not encode a crop")
    return data.tobytes(), extension


METADATA_FIELDS = ("file", "category", "style", "bright_object", "format", "height", "width", "detail")


def write_heldout_plankton(out_dir: Path, per_class: int, seed: int) -> int:
    """Write ``per_class`` crops of every category to ``out_dir/<category folder>/``.

    Crop ``i`` of category ``k`` (index in :data:`CATEGORIES`) is drawn from seed ``(seed, k, i)``;
    ``metadata.csv`` tells how each was made. Returns the number of files written.
    """
    if per_class < 1:
        raise ValueError(f"per_class={per_class} is out of range; use an integer >= 1")
    rows = []
    for k, category in enumerate(CATEGORIES):
        folder = out_dir / FOLDER_NAMES[category]
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            image, _, meta = heldout_plankton_crop((seed, k, index), category)
            data, extension = encode_crop(image, meta)
            name = f"{FOLDER_NAMES[category]}/heldout{index:05d}{extension}"
            (out_dir / name).write_bytes(data)
            detail = meta.get("cell") or ("broken" if meta.get("broken") else "")
            rows.append(
                {
                    "file": name,
                    "category": category,
                    "style": meta["style"],
                    "bright_object": int(meta["bright_object"]),
                    "format": meta["format"],
                    "height": meta["size"][0],
                    "width": meta["size"][1],
                    "detail": detail,
                }
            )
    with (out_dir / "metadata.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, METADATA_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
