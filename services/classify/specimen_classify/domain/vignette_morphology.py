"""Organisms drawn at the vignette's own pixel size, with the within-class variety of real samples.

The frame generator's shapes (:mod:`specimen_classify.domain.synthetic_plankton`) are a few
pixels wide and one recipe per class; scaled up into a vignette they stay one recipe, with
blocky edges. Real sediment-trap and net samples, as the imaging instruments store them, show
each category in several forms. What is drawn here, class by class, comes from what these
particles are, not from any other generator:

* **single cells** (phytoplankton cells): round centric diatoms, elongated pennate diatoms
  (lens- or boat-shaped, pointed or rounded ends), dinoflagellates with horns, short chains of
  2-4 cells; a cell is *translucent*: a dark wall (frustule or theca), a light inside with
  chloroplasts or a nucleus as darker spots, a smooth outline;
* **ovoid fecal pellets**: ellipses and eggs (one end broader), length over width 1.15-2.4,
  *opaque* and dark, granular (packed food remains), a smooth outline, sometimes a lighter
  peritrophic membrane around them;
* **cylindrical fecal pellets**: rods of constant width, length over width 2.5-12, straight
  or curved, ends rounded, blunt (broken) or tapered, opaque and granular, sometimes banded;
* **fecal aggregates**: compact, lumpy clusters: a mid-dark matrix holding darker pellet
  fragments (small rods and ovals, some sticking out);
* **phytoplankton aggregates** (marine snow): loose, fluffy and porous, low contrast, ragged
  edges that fade out, strands and embedded cells and chains.

Each drawer takes the object's size in pixels (its longest extent, about) and returns a mask and
a darkness map in [0, 1] (0 = background, 1 = opaque) of the same shape, cropped to the mask.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

Patch = tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32]]
FloatImage = npt.NDArray[np.float32]


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: float) -> FloatImage:
    """Zero-mean, unit-std noise varying over about ``cells`` features across the larger side."""
    h, w = shape
    step = max(max(h, w) / max(cells, 1.0), 1.0)
    gh, gw = max(int(h / step) + 2, 2), max(int(w / step) + 2, 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    field = np.asarray(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)
    field -= float(field.mean())
    return np.asarray(field / max(float(field.std()), 1e-6), np.float32)


def _crop(mask: npt.NDArray[np.bool_], shade: FloatImage) -> Patch:
    mask = mask.astype(bool)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count > 2:  # keep the organism, drop stray specks the noise cut off
        mask = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        mask = np.zeros((3, 3), bool)
        mask[1, 1] = True
        return mask, np.where(mask, np.float32(0.8), np.float32(0.0)).astype(np.float32)
    mask = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    shade = shade[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return mask, np.clip(np.where(mask, shade, 0.0), 0.0, 1.0).astype(np.float32)


def _frame_of(size: float, pad: float = 0.2) -> tuple[int, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    side = int(size * (1 + 2 * pad)) + 8
    rr, cc = np.mgrid[0:side, 0:side].astype(np.float32) - side / 2.0
    return side, rr, cc


def _rotated(rr: FloatImage, cc: FloatImage, angle: float) -> tuple[FloatImage, FloatImage]:
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return cc * cos + rr * sin, -cc * sin + rr * cos


def _depth(mask: npt.NDArray[np.bool_]) -> FloatImage:
    return np.asarray(cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3), np.float32)


def _granular(rng: np.random.Generator, shape: tuple[int, int], size: float, strength: float) -> FloatImage:
    """Multiplicative grain of packed material: blobs a few percent of the object wide."""
    fine = smooth_noise(rng, shape, rng.uniform(6.0, 20.0))
    grain = fine * 0.6 + smooth_noise(rng, shape, size / 2.5) * 0.4
    return np.asarray(1.0 + strength * grain, np.float32)


def _spots(
    rng: np.random.Generator,
    mask: npt.NDArray[np.bool_],
    count: int,
    radius: float,
    darkness: tuple[float, float],
) -> FloatImage:
    """Darker round spots inside ``mask`` (chloroplasts, a nucleus, embedded cells)."""
    out = np.zeros(mask.shape, np.float32)
    inner = _depth(mask) > max(radius, 1.0)
    rows, cols = np.nonzero(inner if inner.any() else mask)
    for _ in range(count):
        if rows.size == 0:
            break
        pick = int(rng.integers(rows.size))
        r = max(radius * rng.uniform(0.6, 1.4), 1.0)
        axes = (max(round(r), 1), max(round(r * rng.uniform(0.5, 1.0)), 1))
        cv2.ellipse(out, (int(cols[pick]), int(rows[pick])), axes, rng.uniform(0, 180), 0, 360,
                    float(rng.uniform(*darkness)), -1, cv2.LINE_AA)
    return out


def single_cell(rng: np.random.Generator, size: float) -> Patch:
    """A phytoplankton cell: centric, pennate, a dinoflagellate with horns, or a short chain."""
    kind = rng.choice(4, p=[0.4, 0.3, 0.15, 0.15])
    side, rr, cc = _frame_of(size, 0.45 if kind == 2 else 0.2)
    x, y = _rotated(rr, cc, rng.uniform(0, np.pi))
    a = size / 2.0
    wobble = smooth_noise(rng, (side, side), 5.0) * rng.uniform(0.0, 0.03)
    if kind == 0:  # centric: nearly round
        b = a * rng.uniform(0.82, 1.0)
        body = (x / a) ** 2 + (y / b) ** 2 < 1.0 + wobble
    elif kind == 1:  # pennate: lens or boat, pointed (p < 2) or rounded ends
        b = a / rng.uniform(2.0, 6.0)
        p = rng.uniform(1.2, 2.4)
        body = np.abs(x / a) ** p + np.abs(y / b) ** 2 < 1.0 + wobble
    elif kind == 2:  # dinoflagellate: a body with one to three tapering horns
        r = a * rng.uniform(0.45, 0.7)
        body = (x / r) ** 2 + (y / (r * rng.uniform(0.8, 1.0))) ** 2 < 1.0 + wobble
        canvas = body.astype(np.uint8)
        centre = np.array([side / 2.0, side / 2.0])
        for _ in range(int(rng.integers(1, 4))):
            angle = rng.uniform(0, 2 * np.pi)
            length = r * rng.uniform(0.8, 1.9)
            width = r * rng.uniform(0.2, 0.45)
            for t in np.linspace(0.0, 1.0, 12):
                point = centre + (r * 0.7 + t * length) * np.array([np.cos(angle), np.sin(angle)])
                thick = max(round(width * (1 - t) / 2), 1)
                cv2.circle(canvas, (round(point[0]), round(point[1])), thick, 1, -1)
        body = canvas > 0
    else:  # a short chain of touching cells
        n = int(rng.integers(2, 5))
        r = a / n * rng.uniform(0.9, 1.1)
        body = np.zeros((side, side), bool)
        for i in range(n):
            offset = (i - (n - 1) / 2) * 2 * r * rng.uniform(0.85, 0.98)
            body |= ((x - offset) / r) ** 2 + (y / (r * rng.uniform(0.8, 1.0))) ** 2 < 1.0 + wobble
    depth = _depth(body)
    wall = max(size * rng.uniform(0.025, 0.08), 1.0)
    rim = np.exp(-depth / wall)
    inside = rng.uniform(0.08, 0.45)
    shade = inside + (rng.uniform(0.55, 0.9) - inside) * rim
    if rng.uniform() < 0.75:  # chloroplasts, or one nucleus
        many = rng.uniform() < 0.6
        shade = np.maximum(shade, _spots(rng, body, int(rng.integers(3, 12)) if many else 1,
                                         size * (rng.uniform(0.04, 0.1) if many else rng.uniform(0.1, 0.22)),
                                         (0.35, 0.75)))
    return _crop(body, shade.astype(np.float32))


def _pellet_shade(rng: np.random.Generator, body: npt.NDArray[np.bool_], size: float) -> FloatImage:
    """Opaque and granular, the edge a little softer; sometimes a lighter membrane around it."""
    shade = rng.uniform(0.55, 0.95) * _granular(rng, body.shape, size, rng.uniform(0.03, 0.18))
    depth = _depth(body)
    soft = np.exp(-depth / max(size * rng.uniform(0.01, 0.06), 0.7))
    shade *= 1.0 - rng.uniform(0.0, 0.45) * soft
    return np.asarray(shade, np.float32)


def _with_membrane(
    rng: np.random.Generator, body: npt.NDArray[np.bool_], shade: FloatImage, size: float
) -> tuple[npt.NDArray[np.bool_], FloatImage]:
    if rng.uniform() >= 0.25:
        return body, shade
    width = max(int(size * rng.uniform(0.03, 0.08)), 1)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    grown = cv2.dilate(body.astype(np.uint8), disc) > 0
    film = np.where(grown & ~body, np.float32(rng.uniform(0.12, 0.35)), np.float32(0.0))
    return grown, np.maximum(shade, film).astype(np.float32)


def ovoid_pellet(rng: np.random.Generator, size: float) -> Patch:
    """An ellipse or egg, opaque and granular."""
    side, rr, cc = _frame_of(size, 0.25)
    x, y = _rotated(rr, cc, rng.uniform(0, np.pi))
    a = size / 2.0
    b = a / rng.uniform(1.15, 2.4)
    egg = 1.0 + rng.uniform(-0.25, 0.25) * np.clip(x / a, -1, 1)  # one end broader
    wobble = smooth_noise(rng, (side, side), 4.0) * rng.uniform(0.0, 0.05)
    body = (x / a) ** 2 + (y / (b * egg)) ** 2 < 1.0 + wobble
    shade = _pellet_shade(rng, body, size)
    body, shade = _with_membrane(rng, body, shade, size)
    return _crop(body, shade)


def cylindrical_pellet(rng: np.random.Generator, size: float) -> Patch:
    """A rod of constant width along a straight or curved line, ends rounded, blunt or tapered."""
    length = size
    width = length / rng.uniform(2.5, 12.0)
    side = int(length * 1.2 + width) + 8
    canvas = np.zeros((side, side), np.uint8)
    angle = rng.uniform(0, 2 * np.pi)
    curvature = rng.choice([0.0, rng.uniform(-1.6, 1.6), rng.uniform(-1.0, 1.0)], p=[0.4, 0.4, 0.2])
    s_bend = rng.uniform() < 0.2
    steps = max(int(length / max(width / 4, 1.0)), 12)
    t = np.linspace(-0.5, 0.5, steps)
    heading = angle + curvature * (t * (1 - 4 * t * t) * 3 if s_bend else t)
    dx, dy = np.cos(heading) * length / steps, np.sin(heading) * length / steps
    xs, ys = np.cumsum(dx), np.cumsum(dy)
    xs += side / 2.0 - (xs.min() + xs.max()) / 2
    ys += side / 2.0 - (ys.min() + ys.max()) / 2
    ends = rng.choice(3, p=[0.5, 0.3, 0.2])  # rounded, blunt (broken), tapered
    radius = np.full(steps, width / 2)
    if ends == 2:
        radius *= np.clip((0.5 - np.abs(t)) / rng.uniform(0.12, 0.3), 0.35, 1.0)
    for x0, y0, r in zip(xs, ys, radius, strict=True):
        cv2.circle(canvas, (round(x0), round(y0)), max(round(r), 1), 1, -1, cv2.LINE_AA)
    body = canvas > 0
    if ends == 1:  # a broken end: cut square across the last few percent
        for i in (0, -1):
            normal = np.array([dx[i], dy[i]]) / max(np.hypot(dx[i], dy[i]), 1e-6)
            rr, cc = np.mgrid[0:side, 0:side].astype(np.float32)
            reach = (cc - xs[i]) * normal[0] + (rr - ys[i]) * normal[1]
            body &= (reach < 0) if i == -1 else (reach > 0)
    shade = _pellet_shade(rng, body, width * 2)
    if rng.uniform() < 0.2:  # transverse bands of packing
        along = np.zeros((side, side), np.float32)
        cv2.polylines(along, [np.stack([xs, ys], 1).round().astype(np.int32)], False, 1.0, 1)
        bands = smooth_noise(rng, (side, side), length / width * rng.uniform(1.0, 2.5))
        shade *= 1.0 - 0.2 * np.clip(bands, 0, None)
    body, shade = _with_membrane(rng, body, shade, width * 2)
    return _crop(body, shade)


def fecal_aggregate(rng: np.random.Generator, size: float) -> Patch:
    """A compact lumpy cluster: a matrix of medium darkness holding dark pellet fragments."""
    side, _, _ = _frame_of(size, 0.2)
    canvas = np.zeros((side, side), np.uint8)
    reach = size / 2.0
    centre = np.array([side / 2.0, side / 2.0])
    for _ in range(int(rng.integers(4, 10))):
        spot = centre + rng.normal(0.0, reach * 0.35, 2)
        axes = (max(round(reach * rng.uniform(0.25, 0.6)), 2), max(round(reach * rng.uniform(0.15, 0.45)), 2))
        cv2.ellipse(canvas, (round(spot[0]), round(spot[1])), axes, rng.uniform(0, 180), 0, 360, 1, -1)
    lumps = smooth_noise(rng, (side, side), rng.uniform(6, 14))
    field = canvas.astype(np.float32) * 2 - 1 + lumps * rng.uniform(0.2, 0.6)
    body = cv2.GaussianBlur(field, (0, 0), max(size * 0.02, 0.6)) > 0
    matrix = rng.uniform(0.3, 0.62) * _granular(rng, body.shape, size, rng.uniform(0.1, 0.3))
    fragments = np.zeros((side, side), np.float32)
    rows, cols = np.nonzero(body)
    for _ in range(int(rng.integers(3, 16))):
        if rows.size == 0:
            break
        pick = int(rng.integers(rows.size))
        length = size * rng.uniform(0.06, 0.3)
        axes = (max(round(length / 2), 1), max(round(length / 2 / rng.uniform(1.2, 4.0)), 1))
        cv2.ellipse(fragments, (int(cols[pick]), int(rows[pick])), axes, rng.uniform(0, 180), 0, 360,
                    float(rng.uniform(0.65, 0.95)), -1, cv2.LINE_AA)
    body |= fragments > 0.3
    shade = np.maximum(matrix, fragments)
    return _crop(body, np.asarray(shade, np.float32))


def phytoplankton_aggregate(rng: np.random.Generator, size: float) -> Patch:
    """Marine snow: loose, porous and ragged, low contrast fading at the edge, strands and cells."""
    side, rr, cc = _frame_of(size, 0.25)
    x, y = _rotated(rr, cc, rng.uniform(0, np.pi))
    a = size / 2.0
    b = a * rng.uniform(0.5, 1.0)
    core = 1.0 - np.sqrt((x / a) ** 2 + (y / b) ** 2)
    rough = rng.uniform(0.35, 0.8)
    field = core + rough * (0.65 * smooth_noise(rng, (side, side), rng.uniform(4, 9))
                            + 0.35 * smooth_noise(rng, (side, side), rng.uniform(12, 30))) * 0.5
    body = field > rng.uniform(0.05, 0.2)
    canvas = body.astype(np.uint8)
    centre = (side // 2, side // 2)
    for _ in range(int(rng.integers(0, 8))):
        angle = rng.uniform(0, 2 * np.pi)
        reach = a * rng.uniform(0.6, 1.15)
        tip = (round(centre[0] + reach * np.cos(angle)), round(centre[1] + reach * np.sin(angle)))
        cv2.line(canvas, centre, tip, 1, max(int(size * rng.uniform(0.008, 0.03)), 1))
    body = canvas > 0
    depth = _depth(body)
    fade = 1.0 - np.exp(-depth / max(size * rng.uniform(0.03, 0.12), 1.0))
    level = rng.uniform(0.15, 0.5)
    shade = level * _granular(rng, body.shape, size, rng.uniform(0.2, 0.5)) * (0.35 + 0.65 * fade)
    cells = _spots(rng, body, int(rng.integers(0, 14)), size * rng.uniform(0.02, 0.06), (0.3, 0.6))
    shade = np.maximum(shade, cells)
    return _crop(body, np.asarray(shade, np.float32))


MORPHOLOGIES: dict[str, Callable[[np.random.Generator, float], Patch]] = {
    "phytoplankton aggregates": phytoplankton_aggregate,
    "fecal aggregates": fecal_aggregate,
    "single cells": single_cell,
    "cylindrical fecal pellets": cylindrical_pellet,
    "ovoid fecal pellets": ovoid_pellet,
}
"""Category → its drawer at the vignette's pixel size."""

SIZE_RANGE: dict[str, tuple[float, float]] = {
    "phytoplankton aggregates": (30.0, 330.0),
    "fecal aggregates": (24.0, 300.0),
    "single cells": (14.0, 220.0),
    "cylindrical fecal pellets": (24.0, 330.0),
    "ovoid fecal pellets": (16.0, 260.0),
}
"""Longest extent in pixels, drawn log-uniformly: wide and overlapping, because an instrument's
pixel size spans more than the organisms' sizes (a cell under a microscope fills the crop that
a ZooScan gives a pellet)."""

TRANSLUCENCY: dict[str, float] = {
    "phytoplankton aggregates": 1.2,
    "fecal aggregates": 0.5,
    "single cells": 1.6,
    "cylindrical fecal pellets": 0.35,
    "ovoid fecal pellets": 0.35,
}
"""How much more (or less) often than the variety's rate a body of the class is drawn
translucent: cells and marine snow let light through, packed pellets rarely do."""

SPINES: dict[str, float] = {
    "phytoplankton aggregates": 1.2,
    "fecal aggregates": 0.5,
    "single cells": 1.4,
    "cylindrical fecal pellets": 0.3,
    "ovoid fecal pellets": 0.3,
}
"""The same for thin spines, setae and strands (a fibre caught on a pellet is rarer)."""
