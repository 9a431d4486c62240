"""Held-out axial brain MRI slices, with and without tumor, from a parametric atlas.

Written apart from the training generator, on other assumptions: a slice is drawn as a
radiologist reads one. The anatomy is an atlas of parametric structures placed by *slice level*
(posterior fossa with cerebellum, pons and temporal lobes; the level of the basal ganglia and
third ventricle; the bodies of the lateral ventricles; the centrum semiovale; the vertex):
hemispheres split by the interhemispheric fissure and the falx, the lateral ventricles' frontal
horns, bodies and atria, caudate, putamen, pallidum and thalamus, and a cortical ribbon of gray
matter that follows the brain's surface and every sulcus (sulci are random walks from the
surface inwards, with branches). Around it the CSF rim, dura, the skull's inner and outer tables
with the diploic marrow between, and the scalp's fat, unless the slice is skull-stripped.

Every tissue has its signal in each contrast (T1, T1 post-contrast, T2, FLAIR), jittered per
slice. Lesions are of three kinds: gliomas (irregular, infiltrative, with necrosis and an
irregular enhancing rim when high grade, vasogenic edema that follows the white matter and spares
the cortex, mass effect), meningiomas (extra-axial, dural-based, homogeneous, avidly enhancing,
with a dural tail, pushing the cortex in) and metastases (one to six, small, at the gray-white
junction, ring-enhancing or solid, with disproportionate edema). Healthy slices carry the hard
negatives a reader learns to ignore: enhancing veins and sinuses, flow voids, calcified choroid
plexus, asymmetric ventricles, a cavum septum pellucidum, small white-matter hyperintensities.

The acquisition follows: partial volume (drawn at a finer grid, averaged down), a matrix of
128 to 512 (not always square, sometimes interpolated for display), k-space truncation (Gibbs
ringing) with or without apodisation, coil sensitivity shading, Rician noise, a faint motion
ghost, pose (rotation, shift, zoom), a display window, and storage as 8-bit PNG, 16-bit PNG,
gray or RGB JPEG. :func:`heldout_mri_slice` returns the stored pixels; :func:`encode_slice`
the file's bytes; :func:`write_heldout_mri` the ``yes/`` and ``no/`` folders.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Seed = int | Sequence[int]
FloatImage = npt.NDArray[np.float32]

CONTRASTS = ("T1", "T1C", "T2", "FLAIR")
LESIONS = ("glioma", "meningioma", "metastases")
HARD_NEGATIVES = (
    "vessels",
    "choroid_calcification",
    "asymmetric_ventricles",
    "cavum_septum",
    "wm_hyperintensities",
)
LEVELS = ("posterior_fossa", "basal_ganglia", "ventricle_bodies", "centrum_semiovale", "vertex")
FORMATS = ("png8", "png16", "jpeg", "jpeg_rgb")
MATRIX_SIZES = (128, 160, 192, 224, 256, 320, 384, 448, 512)

# Tissue labels of the atlas (painter's order decides overlaps).
AIR, FAT, MARROW, BONE, CSF, GM, WM, DEEP_GM, CHOROID, VESSEL, CALCIFICATION, DURA, MUSCLE = range(13)
_TISSUES = 13

# Relative signal of each tissue (index = label) per contrast; jittered per slice.
_SIGNAL: dict[str, tuple[float, ...]] = {
    #          air   fat  marrow bone  csf   gm    wm   deep  chor  vess  calc  dura  muscle
    "T1": (0.00, 1.00, 0.80, 0.04, 0.14, 0.55, 0.78, 0.60, 0.30, 0.10, 0.70, 0.12, 0.45),
    "T1C": (0.00, 1.00, 0.80, 0.04, 0.14, 0.55, 0.78, 0.60, 0.95, 0.95, 0.70, 0.60, 0.45),
    "T2": (0.00, 0.75, 0.50, 0.03, 1.00, 0.55, 0.38, 0.45, 0.85, 0.06, 0.10, 0.10, 0.30),
    "FLAIR": (0.00, 0.65, 0.45, 0.03, 0.07, 0.58, 0.42, 0.50, 0.30, 0.08, 0.15, 0.10, 0.30),
}
# Signal of the lesion components: solid tumour, necrosis, enhancing rim, edema, meningioma.
_LESION_SIGNAL: dict[str, dict[str, float]] = {
    "T1": {"solid": 0.42, "necrosis": 0.22, "rim": 0.45, "edema": 0.55, "meningioma": 0.42},
    "T1C": {"solid": 0.50, "necrosis": 0.20, "rim": 1.05, "edema": 0.55, "meningioma": 1.02},
    "T2": {"solid": 0.78, "necrosis": 0.95, "rim": 0.60, "edema": 0.80, "meningioma": 0.74},
    "FLAIR": {"solid": 0.85, "necrosis": 0.45, "rim": 0.75, "edema": 0.92, "meningioma": 0.74},
}


@dataclass
class _Canvas:
    """The drawing grid: normalised head coordinates (x right, y posterior) of every pixel."""

    height: int
    width: int
    centre: tuple[float, float]  # (row, col) of the head's centre in pixels
    radius: float  # pixels per normalised unit
    angle: float  # radians, in-plane rotation
    x: FloatImage
    y: FloatImage

    def px(self, x: float, y: float) -> tuple[float, float]:
        """Normalised (x, y) → pixel (col, row)."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        return (
            self.centre[1] + self.radius * (c * x - s * y),
            self.centre[0] + self.radius * (s * x + c * y),
        )


def _canvas(height: int, width: int, centre: tuple[float, float], radius: float, angle: float) -> _Canvas:
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    dr, dc = (rows - centre[0]) / radius, (cols - centre[1]) / radius
    c, s = math.cos(angle), math.sin(angle)
    return _Canvas(
        height,
        width,
        centre,
        radius,
        angle,
        x=(c * dc + s * dr).astype(np.float32),
        y=(-s * dc + c * dr).astype(np.float32),
    )


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> FloatImage:
    """Zero-mean, unit-deviation noise smooth over about ``shape / cells`` pixels."""
    coarse = rng.standard_normal((cells + 2, cells + 2)).astype(np.float32)
    field = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    field -= field.mean()
    return np.asarray(field / (field.std() + 1e-6), np.float32)


def _ellipse(
    canvas: _Canvas, cx: float, cy: float, a: float, b: float, tilt: float = 0.0
) -> npt.NDArray[np.bool_]:
    c, s = math.cos(tilt), math.sin(tilt)
    dx, dy = canvas.x - cx, canvas.y - cy
    u, v = (c * dx + s * dy) / a, (-s * dx + c * dy) / b
    return np.asarray(u * u + v * v <= 1.0)


def _blob_radius(
    rng: np.random.Generator, irregularity: float, harmonics: int = 6
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Amplitudes and phases of a star-shaped outline's radial harmonics (2..harmonics+1)."""
    amplitudes = irregularity * rng.uniform(0.2, 1.0, harmonics) / np.arange(2, harmonics + 2) ** 0.8
    return amplitudes, rng.uniform(0, 2 * np.pi, harmonics)


def _blob(
    canvas: _Canvas,
    cx: float,
    cy: float,
    radius: float,
    shape: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    softness: float = 0.0,
) -> FloatImage:
    """Fraction (0-1) of a star-shaped blob; a soft edge of ``softness`` (normalised units)."""
    dx, dy = canvas.x - cx, canvas.y - cy
    rho = np.sqrt(dx * dx + dy * dy)
    theta = np.arctan2(dy, dx)
    edge = np.ones_like(rho)
    for k, (amp, phase) in enumerate(zip(*shape, strict=True), start=2):
        edge += amp * np.cos(k * theta + phase)
    edge *= radius
    if softness <= 0:
        return np.asarray(rho <= edge, np.float32)
    return np.asarray(np.clip((edge - rho) / softness + 0.5, 0, 1), np.float32)


# Anatomy ------------------------------------------------------------------------------------------


@dataclass
class _Anatomy:
    labels: npt.NDArray[np.uint8]
    brain: npt.NDArray[np.bool_]
    white: npt.NDArray[np.bool_]


def _level_of(z: float) -> str:
    if z < 0.2:
        return "posterior_fossa"
    if z < 0.42:
        return "basal_ganglia"
    if z < 0.62:
        return "ventricle_bodies"
    if z < 0.82:
        return "centrum_semiovale"
    return "vertex"


def _draw_tube(
    labels: npt.NDArray[np.uint8],
    canvas: _Canvas,
    points: Sequence[tuple[float, float]],
    widths: Sequence[float],
    value: int,
) -> None:
    """Fill a tube along a polyline of normalised points, its half-width varying linearly."""
    pts = np.asarray(points, np.float64)
    w = np.asarray(widths, np.float64)
    lengths = np.hypot(*np.diff(pts, axis=0).T)
    steps = max(2, int(lengths.sum() * canvas.radius / 1.5))
    t = np.linspace(0, 1, steps)
    cumulative = np.concatenate([[0], np.cumsum(lengths)]) / max(lengths.sum(), 1e-9)
    xs, ys, ws = (np.interp(t, cumulative, v) for v in (pts[:, 0], pts[:, 1], w))
    for x, y, half in zip(xs, ys, ws, strict=True):
        col, row = canvas.px(float(x), float(y))
        cv2.circle(
            labels,
            (round(col * 4), round(row * 4)),
            max(1, round(half * canvas.radius * 4)),
            int(value),
            -1,
            lineType=cv2.LINE_8,
            shift=2,
        )


def _ventricles(
    rng: np.random.Generator,
    canvas: _Canvas,
    level: str,
    z: float,
    size: float,
    asymmetry: float,
    brain_scale: float,
) -> npt.NDArray[np.uint8]:
    """CSF of the ventricular system at this level (uint8 mask, 1 = ventricle)."""
    mask = np.zeros((canvas.height, canvas.width), np.uint8)
    k = brain_scale
    for side in (-1.0, 1.0):
        s = size * (asymmetry if side > 0 else 1.0)
        if level == "basal_ganglia" and z > 0.27:
            # Frontal horns: the butterfly's wings, diverging from the septum, caudate indenting them.
            _draw_tube(
                mask,
                canvas,
                [(side * 0.03 * k, -0.12 * k), (side * 0.09 * k, -0.28 * k), (side * 0.15 * k, -0.38 * k)],
                [0.02 * s * k, 0.045 * s * k, 0.02 * s * k],
                1,
            )
            # Atria and occipital horns, posteriorly.
            _draw_tube(
                mask,
                canvas,
                [(side * 0.19 * k, 0.22 * k), (side * 0.22 * k, 0.32 * k), (side * 0.16 * k, 0.48 * k)],
                [0.035 * s * k, 0.05 * s * k, 0.012 * s * k],
                1,
            )
        elif level == "basal_ganglia":
            # Temporal horns: slits in the temporal lobes.
            _draw_tube(
                mask,
                canvas,
                [(side * 0.38 * k, -0.12 * k), (side * 0.4 * k, 0.02 * k)],
                [0.01 * s * k, 0.018 * s * k],
                1,
            )
        elif level == "ventricle_bodies":
            bow = rng.uniform(0.02, 0.05)
            spread = 0.05 + 0.05 * (z - 0.42) / 0.2
            _draw_tube(
                mask,
                canvas,
                [
                    (side * (spread + 0.02) * k, -0.3 * k),
                    (side * (spread + bow + 0.03) * k, -0.05 * k),
                    (side * (spread + bow + 0.06) * k, 0.18 * k),
                    (side * (spread + 0.1) * k, 0.32 * k),
                ],
                [0.03 * s * k, 0.04 * s * k, 0.045 * s * k, 0.025 * s * k],
                1,
            )
    if level == "basal_ganglia" and z > 0.27:
        _draw_tube(mask, canvas, [(0.0, -0.08 * k), (0.0, 0.1 * k)], [0.012 * size * k, 0.016 * size * k], 1)
    if level == "posterior_fossa":
        # Fourth ventricle: a small tent behind the pons.
        _draw_tube(
            mask,
            canvas,
            [(-0.05 * k, 0.17 * k), (0.0, 0.12 * k), (0.05 * k, 0.17 * k)],
            [0.015 * size * k, 0.02 * size * k, 0.015 * size * k],
            1,
        )
    return mask


def _sulci(
    rng: np.random.Generator, canvas: _Canvas, outline: Any, count: int, depth: float, width_px: float
) -> npt.NDArray[np.uint8]:
    """Sulci: random walks from the surface inwards, some branching (uint8 mask)."""
    mask = np.zeros((canvas.height, canvas.width), np.uint8)
    thetas = np.linspace(0, 2 * np.pi, count, endpoint=False) + rng.uniform(0, 2 * np.pi / count, count)
    thickness = max(1, round(width_px))
    for theta in thetas:
        r = float(outline(theta)) * 1.02
        x, y = r * math.cos(theta), r * math.sin(theta)
        heading = theta + math.pi + rng.normal(0, 0.3)
        length = depth * rng.uniform(0.4, 1.5)
        steps = 8
        path = [(x, y)]
        for step in range(steps):
            heading += rng.normal(0, 0.35)
            x += math.cos(heading) * length / steps
            y += math.sin(heading) * length / steps
            path.append((x, y))
            if step in (steps // 3, steps // 2) and rng.random() < 0.3:
                bx, by, bh = x, y, heading + rng.choice([-1, 1]) * rng.uniform(0.5, 1.0)
                branch = [(bx, by)]
                for _ in range(steps // 2):
                    bh += rng.normal(0, 0.3)
                    bx += math.cos(bh) * length / steps
                    by += math.sin(bh) * length / steps
                    branch.append((bx, by))
                _polyline(mask, canvas, branch, thickness)
        _polyline(mask, canvas, path, thickness)
    return mask


def _polyline(
    mask: npt.NDArray[np.uint8], canvas: _Canvas, points: Sequence[tuple[float, float]], thickness: int
) -> None:
    pixels = np.array([canvas.px(x, y) for x, y in points], np.float64)
    cv2.polylines(mask, [np.rint(pixels * 4).astype(np.int32)], False, 1, thickness, cv2.LINE_AA, shift=2)


def _anatomy(
    rng: np.random.Generator, canvas: _Canvas, z: float, stripped: bool, meta: dict[str, Any]
) -> _Anatomy:
    level = _level_of(z)
    meta["level"] = level
    x, y = canvas.x, canvas.y
    rho = np.sqrt(x * x + y * y)
    theta = np.arctan2(y, x)
    # The inner table of the skull: a slightly egg-shaped ellipse (wider behind), narrowing to the vertex.
    shrink = math.sqrt(max(0.3, 1 - ((z - 0.55) / 0.6) ** 2)) if z > 0.55 else 1.0
    ax, ay = rng.uniform(0.70, 0.80) * shrink, rng.uniform(0.84, 0.92) * min(1.0, shrink * 1.08)
    egg = rng.uniform(0.02, 0.07)
    harm = [(rng.normal(0, 0.012), rng.uniform(0, 2 * np.pi)) for _ in range(4)]

    def outline(t: Any) -> Any:
        base = 1.0 / np.sqrt((np.cos(t) / ax) ** 2 + (np.sin(t) / ay) ** 2)
        wobble = 1.0 + egg * np.sin(t) + sum(a * np.cos((i + 3) * t + p) for i, (a, p) in enumerate(harm))
        return base * wobble

    cavity = outline(theta)
    rim = rng.uniform(0.008, 0.025)  # subarachnoid CSF between brain and inner table
    depth_out = rho - cavity  # > 0 outside the cavity (normalised units)
    labels = np.full(rho.shape, AIR, np.uint8)
    if not stripped:
        scalp, outer, diploe, inner = (
            rng.uniform(0.035, 0.07),
            rng.uniform(0.008, 0.015),
            rng.uniform(0.008, 0.03),
            rng.uniform(0.008, 0.014),
        )
        # The scalp is thicker over the occiput and thinner over the temples, and never even.
        scalp_map = scalp * (
            1 + 0.3 * np.sin(theta) + 0.15 * _smooth_noise(rng, (canvas.height, canvas.width), 4)
        )
        edges: list[Any] = [inner, inner + diploe, inner + diploe + outer, inner + diploe + outer + scalp_map]
        labels[depth_out < edges[3]] = FAT
        muscle = (depth_out > edges[2] + scalp_map * 0.5) & (np.abs(np.sin(theta)) < 0.55) & (y < 0.25 * ay)
        labels[muscle & (depth_out < edges[3])] = MUSCLE
        labels[depth_out < edges[2]] = BONE
        labels[depth_out < edges[1]] = MARROW
        labels[depth_out < edges[0]] = BONE
        labels[depth_out < inner * 0.35] = DURA
    labels[depth_out < 0] = CSF
    brain_surface = cavity - rim
    brain = rho < brain_surface
    if level == "posterior_fossa":
        brain = _posterior_fossa(rng, canvas, labels, ax, ay, stripped)
    labels[brain] = WM
    # Interhemispheric fissure (and the falx in it), except across the corpus callosum.
    fissure_half = rng.uniform(0.006, 0.014)
    bend = rng.normal(0, 0.02)
    midline = np.abs(x - bend * np.sin(np.pi * (y + 1) / 2)) < fissure_half
    if level in ("ventricle_bodies", "basal_ganglia"):
        midline &= (y < -0.44 * ay) | (y > 0.5 * ay)
    elif level == "posterior_fossa":
        midline &= y < -0.2
    fissure = midline & brain
    sulcus_width = max(1.0, rng.uniform(0.004, 0.012) * canvas.radius)
    n_sulci = int(rng.integers(45, 75) * (0.6 + 0.4 * shrink))
    sulci = _sulci(rng, canvas, lambda t: outline(t) - rim, n_sulci, rng.uniform(0.1, 0.2), sulcus_width) > 0
    if level == "basal_ganglia":
        for side in (-1.0, 1.0):  # Sylvian fissures
            start = (side * float(outline(np.pi / 2 - side * np.pi / 2)) * 0.98, -0.05 + rng.normal(0, 0.03))
            path = [
                start,
                (side * 0.72 * ax, -0.06 + rng.normal(0, 0.02)),
                (side * 0.58 * ax, -0.04 + rng.normal(0, 0.02)),
                (side * 0.55 * ax, 0.08 + rng.normal(0, 0.03)),
            ]
            tmp = np.zeros_like(labels)
            _polyline(tmp, canvas, path, max(2, round(sulcus_width * 1.6)))
            sulci |= tmp > 0
    sulci &= brain
    csf_space = ~brain | fissure | sulci
    labels[fissure | sulci] = CSF
    # Cortical ribbon: gray matter within a thickness of any CSF surface (follows every sulcus).
    thickness = rng.uniform(0.035, 0.06) * canvas.radius
    distance = cv2.distanceTransform((~csf_space).astype(np.uint8), cv2.DIST_L2, 5)
    ribbon_noise = 1.0 + 0.25 * _smooth_noise(rng, (canvas.height, canvas.width), 12)
    labels[brain & ~csf_space & (distance < thickness * ribbon_noise)] = GM
    if not stripped:
        falx = np.abs(x - bend * np.sin(np.pi * (y + 1) / 2)) < fissure_half * 0.3
        labels[falx & fissure] = DURA
    _deep_structures(rng, canvas, labels, level, z, ax)
    size = rng.uniform(0.6, 1.8)
    asymmetry = rng.uniform(0.92, 1.08)
    meta.setdefault("hard_negatives", [])
    if meta.get("allow_asymmetry") and rng.random() < 0.3:
        asymmetry = rng.choice([rng.uniform(0.55, 0.75), rng.uniform(1.35, 1.7)])
        meta["hard_negatives"].append("asymmetric_ventricles")
    ventricles = _ventricles(rng, canvas, level, z, size, asymmetry, ax / 0.75) > 0
    labels[ventricles & brain] = CSF
    if level == "basal_ganglia" and z > 0.27 and rng.random() < 0.15:
        cavum = _ellipse(canvas, 0.0, -0.22 * ax / 0.75, 0.018, 0.07)
        labels[cavum & brain] = CSF
        meta["hard_negatives"].append("cavum_septum")
    white = labels == WM
    return _Anatomy(labels=labels, brain=brain, white=white)


def _posterior_fossa(
    rng: np.random.Generator,
    canvas: _Canvas,
    labels: npt.NDArray[np.uint8],
    ax: float,
    ay: float,
    stripped: bool,
) -> npt.NDArray[np.bool_]:
    """Brain of a low slice: temporal lobes, pons, cerebellar hemispheres; the orbits in front."""
    parts = [
        _ellipse(canvas, -0.52 * ax, -0.2 * ay, 0.36 * ax, 0.46 * ay, 0.2),
        _ellipse(canvas, 0.52 * ax, -0.2 * ay, 0.36 * ax, 0.46 * ay, -0.2),
        _ellipse(canvas, 0.0, -0.02 * ay, 0.2 * ax, 0.18 * ay),
        _ellipse(canvas, -0.44 * ax, 0.5 * ay, 0.5 * ax, 0.42 * ay, -0.2),
        _ellipse(canvas, 0.44 * ax, 0.5 * ay, 0.5 * ax, 0.42 * ay, 0.2),
        _ellipse(canvas, 0.0, 0.45 * ay, 0.14 * ax, 0.4 * ay),
    ]
    brain = np.logical_or.reduce(parts)
    if not stripped:
        # In front of the temporal lobes: the skull base (bone), the sphenoid and ethmoid sinuses
        # (air) between the orbits, and in each orbit its fat around the globe (fluid).
        front = (canvas.y < -0.62 * ay) & (labels == CSF)
        labels[front] = BONE
        labels[front & _ellipse(canvas, 0.0, -0.72 * ay, 0.1 * ax, 0.14 * ay)] = AIR
        for side in (-1.0, 1.0):
            orbit = _ellipse(canvas, side * 0.34 * ax, -0.74 * ay, 0.17 * ax, 0.13 * ay, side * 0.4)
            labels[front & orbit] = FAT
            labels[front & _ellipse(canvas, side * 0.38 * ax, -0.86 * ay, 0.12 * ax, 0.1 * ay)] = CSF
    brain &= ~(canvas.y < -0.6 * ay)
    # Cerebellar folia: fine parallel CSF lines, drawn after the white matter by the caller.
    return np.asarray(brain)


def _deep_structures(
    rng: np.random.Generator, canvas: _Canvas, labels: npt.NDArray[np.uint8], level: str, z: float, ax: float
) -> None:
    k = ax / 0.75
    inside = np.isin(labels, (WM,))
    if level == "basal_ganglia" and z > 0.25:
        for side in (-1.0, 1.0):
            for cx, cy, a, b, tilt in (
                (0.15, -0.24, 0.055, 0.08, 0.3),  # caudate head
                (0.29, -0.05, 0.045, 0.15, -0.15),  # putamen
                (0.21, -0.04, 0.03, 0.09, -0.2),  # globus pallidus
                (0.1, 0.1, 0.08, 0.1, 0.2),
            ):  # thalamus
                jitter = rng.normal(0, 0.01, 2)
                region = _ellipse(
                    canvas, side * (cx + jitter[0]) * k, (cy + jitter[1]) * k, a * k, b * k, side * tilt
                )
                labels[region & inside] = DEEP_GM
            insula = _ellipse(canvas, side * 0.4 * k, -0.06 * k, 0.025 * k, 0.17 * k, -side * 0.1)
            labels[insula & inside] = GM
    elif level == "ventricle_bodies" and z < 0.5:
        for side in (-1.0, 1.0):
            body = _ellipse(canvas, side * 0.15 * k, -0.08 * k, 0.04 * k, 0.12 * k, side * 0.2)
            labels[body & inside] = DEEP_GM
    elif level == "posterior_fossa":
        # Cerebellum: a gray cortex folded in folia (thin CSF lines, roughly concentric), around a
        # ragged white-matter core on each side (the arbor vitae).
        cerebellum = inside & (canvas.y > 0.25 * k)
        labels[cerebellum] = GM
        for side in (-1.0, 1.0):
            core = _blob(canvas, side * 0.3 * k, 0.5 * k, 0.12 * k, _blob_radius(rng, 0.5, 8)) > 0.5
            labels[core & cerebellum] = WM
        ring = np.sqrt(canvas.x**2 + ((canvas.y - 0.1) * 1.3) ** 2)
        ring = ring + 0.015 * _smooth_noise(rng, (canvas.height, canvas.width), 10)
        folia = (np.sin(ring * rng.uniform(110, 160)) > 0.96) & cerebellum
        labels[folia] = CSF
        labels[_ellipse(canvas, 0.0, -0.02, 0.09 * k, 0.08 * k) & inside] = WM


# Lesions and incidental findings ----------------------------------------------------------------


@dataclass
class _Lesion:
    solid: FloatImage
    necrosis: FloatImage
    rim: FloatImage
    edema: FloatImage
    meningioma: FloatImage

    @staticmethod
    def empty(shape: tuple[int, int]) -> _Lesion:
        return _Lesion(*(np.zeros(shape, np.float32) for _ in range(5)))


def _point_in(rng: np.random.Generator, canvas: _Canvas, mask: npt.NDArray[np.bool_]) -> tuple[float, float]:
    rows, cols = np.nonzero(mask)
    i = int(rng.integers(len(rows)))
    return float(canvas.x[rows[i], cols[i]]), float(canvas.y[rows[i], cols[i]])


def _edema(
    rng: np.random.Generator, canvas: _Canvas, core: FloatImage, reach: float, white: npt.NDArray[np.bool_]
) -> FloatImage:
    """Vasogenic edema: spreads ``reach`` pixels from the core with finger-like fronts, in white matter."""
    outside = (core < 0.5).astype(np.uint8)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, 5)
    fingers = 1.0 + 0.45 * _smooth_noise(rng, core.shape, 18)
    fraction = np.clip(1.3 - distance / (reach * fingers + 1e-6), 0, 1)
    soft_white = cv2.GaussianBlur(white.astype(np.float32), (0, 0), 1.5)
    return (fraction * soft_white).astype(np.float32)


def _glioma(
    rng: np.random.Generator, canvas: _Canvas, anatomy: _Anatomy, lesion: _Lesion, meta: dict[str, Any]
) -> tuple[float, float, float]:
    deep = (
        cv2.erode(
            anatomy.brain.astype(np.uint8),
            np.ones((3, 3), np.uint8),
            iterations=max(2, int(canvas.radius * 0.15)),
        )
        > 0
    )
    cx, cy = _point_in(rng, canvas, deep if deep.any() else anatomy.brain)
    radius = rng.uniform(0.1, 0.24)
    high_grade = rng.random() < 0.65
    meta["grade"] = "high" if high_grade else "low"
    shape = _blob_radius(rng, rng.uniform(0.15, 0.35))
    body = _blob(canvas, cx, cy, radius, shape, softness=0.01 if high_grade else 0.04)
    body *= anatomy.brain
    if high_grade:
        necrotic = rng.uniform(0.35, 0.7)
        core = _blob(
            canvas,
            cx + rng.normal(0, 0.01),
            cy + rng.normal(0, 0.01),
            radius * necrotic,
            _blob_radius(rng, 0.3),
            softness=0.008,
        )
        core = np.minimum(core, body)
        rim_noise = np.clip(0.75 + 0.5 * _smooth_noise(rng, body.shape, 10), 0.2, 1.0)
        lesion.rim = np.maximum(lesion.rim, np.clip(body - core, 0, 1) * rim_noise)
        lesion.necrosis = np.maximum(lesion.necrosis, core)
    lesion.solid = np.maximum(lesion.solid, body)
    reach = canvas.radius * radius * rng.uniform(0.4, 1.5 if high_grade else 0.6)
    lesion.edema = np.maximum(lesion.edema, _edema(rng, canvas, body, reach, anatomy.white))
    return cx, cy, radius * rng.uniform(0.6, 1.2)


def _meningioma(
    rng: np.random.Generator, canvas: _Canvas, anatomy: _Anatomy, lesion: _Lesion, meta: dict[str, Any]
) -> tuple[float, float, float]:
    radius = rng.uniform(0.12, 0.24)
    rows, cols = np.nonzero(anatomy.brain)
    rho = np.hypot(canvas.x[rows, cols], canvas.y[rows, cols])
    if rng.random() < 0.3:
        meta["site"] = "falx"
        cx, cy = rng.choice([-1, 1]) * radius * 0.6, rng.choice([-1, 1]) * rng.uniform(0.3, 0.6)
    else:
        meta["site"] = "convexity"
        angle = rng.uniform(0, 2 * np.pi)
        ray = (
            np.abs(
                np.arctan2(
                    np.sin(np.arctan2(canvas.y[rows, cols], canvas.x[rows, cols]) - angle),
                    np.cos(np.arctan2(canvas.y[rows, cols], canvas.x[rows, cols]) - angle),
                )
            )
            < 0.05
        )
        i = int(np.flatnonzero(ray)[np.argmax(rho[ray])]) if ray.any() else int(np.argmax(rho))
        px, py = float(canvas.x[rows[i], cols[i]]), float(canvas.y[rows[i], cols[i]])
        norm = math.hypot(px, py)
        cx, cy = px - px / norm * radius * 0.5, py - py / norm * radius * 0.5
    body = _blob(canvas, cx, cy, radius, _blob_radius(rng, 0.06), softness=0.006)
    body *= ~np.isin(anatomy.labels, (AIR, FAT, MUSCLE, BONE, MARROW))
    lesion.meningioma = np.maximum(lesion.meningioma, body)
    if rng.random() < 0.35:
        lesion.edema = np.maximum(
            lesion.edema, _edema(rng, canvas, body, canvas.radius * radius * 0.6, anatomy.white)
        )
    return cx, cy, radius


def _metastases(
    rng: np.random.Generator, canvas: _Canvas, anatomy: _Anatomy, lesion: _Lesion, meta: dict[str, Any]
) -> tuple[float, float, float]:
    count = int(rng.choice([1, 1, 2, 2, 3, 4, 5, 6]))
    meta["count"] = count
    junction = (
        cv2.dilate((anatomy.labels == GM).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    ) & anatomy.white
    where = junction if junction.any() else anatomy.brain
    largest = (0.0, 0.0, 0.0)
    for index in range(count):
        cx, cy = _point_in(rng, canvas, where)
        radius = rng.uniform(0.045, 0.09) if index == 0 else rng.uniform(0.02, 0.07)
        body = _blob(canvas, cx, cy, radius, _blob_radius(rng, 0.08), softness=0.005)
        if radius > 0.035 and rng.random() < 0.8:
            core = _blob(canvas, cx, cy, radius * rng.uniform(0.4, 0.7), _blob_radius(rng, 0.1), 0.005)
            lesion.rim = np.maximum(lesion.rim, np.clip(body - core, 0, 1))
            lesion.necrosis = np.maximum(lesion.necrosis, core)
        else:
            lesion.rim = np.maximum(lesion.rim, body)
        lesion.solid = np.maximum(lesion.solid, body)
        lesion.edema = np.maximum(
            lesion.edema,
            _edema(rng, canvas, body, canvas.radius * radius * rng.uniform(1.5, 4.0), anatomy.white),
        )
        if radius > largest[2]:
            largest = (cx, cy, radius)
    return largest


def _mass_effect(
    canvas: _Canvas,
    labels: npt.NDArray[np.uint8],
    brain: npt.NDArray[np.bool_],
    cx: float,
    cy: float,
    radius: float,
    strength: float,
) -> npt.NDArray[np.uint8]:
    """Push the brain's structures away from a lesion (nearest-label resampling), sparing the skull."""
    dx, dy = canvas.x - cx, canvas.y - cy
    r = np.sqrt(dx * dx + dy * dy) + 1e-6
    reach = radius * 2.5
    shrink = strength * np.exp(-((r / reach) ** 2)) * brain
    scale = 1.0 - shrink  # source radius / target radius: content moves outwards
    sx, sy = cx + dx * scale, cy + dy * scale
    c, s = math.cos(canvas.angle), math.sin(canvas.angle)
    col = canvas.centre[1] + canvas.radius * (c * sx - s * sy)
    row = canvas.centre[0] + canvas.radius * (s * sx + c * sy)
    warped = cv2.remap(
        labels,
        col.astype(np.float32),
        row.astype(np.float32),
        cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.where(brain, warped, labels).astype(np.uint8)


def _incidental(
    rng: np.random.Generator,
    canvas: _Canvas,
    anatomy: _Anatomy,
    level: str,
    meta: dict[str, Any],
    negatives_likely: bool,
) -> None:
    """Normal structures and harmless findings that a naive detector takes for lesions."""
    labels = anatomy.labels
    chance = 0.75 if negatives_likely else 0.4
    if rng.random() < chance:
        meta["hard_negatives"].append("vessels")
        rows, cols = np.nonzero(labels == CSF)
        if len(rows):
            for _ in range(int(rng.integers(3, 12))):
                i = int(rng.integers(len(rows)))
                x0, y0 = float(canvas.x[rows[i], cols[i]]), float(canvas.y[rows[i], cols[i]])
                heading = rng.uniform(0, 2 * np.pi)
                steps = int(rng.integers(2, 6))
                path = [(x0, y0)]
                for _ in range(steps):
                    heading += rng.normal(0, 0.4)
                    path.append(
                        (path[-1][0] + 0.02 * math.cos(heading), path[-1][1] + 0.02 * math.sin(heading))
                    )
                tmp = np.zeros_like(labels)
                _polyline(tmp, canvas, path, max(1, round(canvas.radius * rng.uniform(0.004, 0.01))))
                labels[(tmp > 0) & anatomy.brain & (labels != WM)] = VESSEL
        # Superior sagittal sinus: a triangle at the back of the midline.
        if level != "posterior_fossa":
            sinus = _ellipse(canvas, 0.0, float(canvas.y[anatomy.brain].max()) + 0.012, 0.02, 0.018)
            labels[sinus & (labels != AIR)] = VESSEL
    if level in ("basal_ganglia", "ventricle_bodies") and rng.random() < chance * 0.8:
        meta["hard_negatives"].append("choroid_calcification")
        ventricle = (labels == CSF) & anatomy.brain & (canvas.y > 0.1)
        for side in (-1.0, 1.0):
            half = ventricle & (np.sign(canvas.x) == side)
            if half.any():
                cx, cy = _point_in(rng, canvas, half)
                r = rng.uniform(0.012, 0.03)
                labels[_ellipse(canvas, cx, cy, r * 1.3, r)] = CHOROID
                labels[_ellipse(canvas, cx, cy, r * 0.5, r * 0.5)] = CALCIFICATION
    if rng.random() < chance * 0.5:
        meta["hard_negatives"].append("wm_hyperintensities")
        for _ in range(int(rng.integers(2, 8))):
            cx, cy = _point_in(rng, canvas, anatomy.white) if anatomy.white.any() else (0.0, 0.0)
            labels[
                _ellipse(canvas, cx, cy, rng.uniform(0.006, 0.015), rng.uniform(0.006, 0.015)) & anatomy.white
            ] = DEEP_GM


# Contrast and acquisition ----------------------------------------------------------------------


def _render(
    rng: np.random.Generator, labels: npt.NDArray[np.uint8], lesion: _Lesion, contrast: str
) -> FloatImage:
    signal = np.array(_SIGNAL[contrast], np.float32) * rng.uniform(0.9, 1.1, _TISSUES).astype(np.float32)
    signal[AIR] = 0.0
    # Boundaries between tissues are never a pixel sharp (partial volume within the slice thickness).
    image = cv2.GaussianBlur(signal[labels], (0, 0), rng.uniform(0.7, 1.5))
    texture = _smooth_noise(rng, labels.shape, 40) * 0.03 + _smooth_noise(rng, labels.shape, 8) * 0.02
    image = image * (1 + texture * (labels != AIR))
    values = _LESION_SIGNAL[contrast]
    jitter = {name: value * rng.uniform(0.9, 1.1) for name, value in values.items()}
    for name in ("edema", "solid", "meningioma", "necrosis", "rim"):
        fraction = getattr(lesion, name)
        if name == "rim" and contrast not in ("T1C",):
            fraction = fraction * 0.5
        if fraction.any():
            spotty = 1 + 0.06 * _smooth_noise(rng, labels.shape, 30)
            image = image * (1 - fraction) + jitter[name] * spotty * fraction
    return np.asarray(image, np.float32)


def _bias_field(rng: np.random.Generator, shape: tuple[int, int]) -> FloatImage:
    """Coil sensitivity: a few surface coils' falloff, plus a slow tilt."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    rows /= shape[0]
    cols /= shape[1]
    field = np.full(shape, 1.0, np.float32)
    if rng.random() < 0.6:
        for _ in range(int(rng.integers(2, 8))):
            angle = rng.uniform(0, 2 * np.pi)
            cy, cx = 0.5 + 0.6 * math.sin(angle), 0.5 + 0.6 * math.cos(angle)
            field += rng.uniform(0.05, 0.35) * np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / 0.15)
    tilt = rng.normal(0, 0.12, 2)
    field *= 1 + tilt[0] * (rows - 0.5) + tilt[1] * (cols - 0.5)
    return np.asarray(field / field.mean(), np.float32)


def _truncate_kspace(rng: np.random.Generator, image: FloatImage, meta: dict[str, Any]) -> FloatImage:
    """Keep the central fraction of k-space (zero-filled back): blur and Gibbs ringing at edges."""
    h, w = image.shape
    low = 0.55 if max(h, w) > 200 else 0.75
    keep = (rng.uniform(low, 1.0), rng.uniform(low, 1.0))
    meta["kspace_fraction"] = [round(keep[0], 3), round(keep[1], 3)]
    spectrum = np.fft.fftshift(np.fft.fft2(image))
    window = np.zeros((h, w), np.float32)
    kh, kw = max(4, int(h * keep[0] / 2)), max(4, int(w * keep[1] / 2))
    apodise = rng.random() < 0.4
    meta["apodised"] = bool(apodise)
    rows = np.hanning(2 * kh) if apodise else np.ones(2 * kh)
    cols = np.hanning(2 * kw) if apodise else np.ones(2 * kw)
    window[h // 2 - kh : h // 2 + kh, w // 2 - kw : w // 2 + kw] = np.outer(rows, cols)[
        : min(2 * kh, h), : min(2 * kw, w)
    ]
    return np.fft.ifft2(np.fft.ifftshift(spectrum * window)).real.astype(np.float32)


def _rician(rng: np.random.Generator, image: FloatImage, sigma: float) -> FloatImage:
    real = image + rng.normal(0, sigma, image.shape)
    imaginary = rng.normal(0, sigma, image.shape)
    return np.sqrt(real * real + imaginary * imaginary).astype(np.float32)


def _ghost(rng: np.random.Generator, image: FloatImage) -> FloatImage:
    """Motion in the phase-encoding direction: faint shifted copies of the head."""
    axis = int(rng.integers(2))
    shift = int(image.shape[axis] * rng.uniform(0.15, 0.4))
    amount = rng.uniform(0.02, 0.06)
    return (image + amount * (np.roll(image, shift, axis) + np.roll(image, -shift, axis)) / 2).astype(
        np.float32
    )


def _annotate(rng: np.random.Generator, image: npt.NDArray[Any], top: int) -> None:
    """Burned-in text of a PACS screenshot: orientation marker, series or scale."""
    h, w = image.shape[:2]
    scale = max(0.3, min(h, w) / 700)
    text = str(rng.choice(["R", "L", "A", "P", "Ax T2", "AX FLAIR", "Se:4 Im:12", "10 cm", "SL 5.0"]))
    org = (int(rng.uniform(0.02, 0.7) * w), int(rng.choice([0.06, 0.97]) * h))
    cv2.putText(
        image,
        text,
        org,
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        int(top * rng.uniform(0.6, 1.0)),
        max(1, round(scale * 1.5)),
        cv2.LINE_AA,
    )


# The slice ---------------------------------------------------------------------------------------


def _rng(seed: Seed) -> np.random.Generator:
    entropy = [int(seed)] if isinstance(seed, int | np.integer) else [int(s) for s in seed]
    return np.random.default_rng([0x4E1D, *entropy])


def heldout_mri_slice(
    seed: Seed, has_tumor: bool | None = None
) -> tuple[npt.NDArray[Any], bool, dict[str, Any]]:
    """One axial brain MRI slice as stored: pixels, whether it holds a tumor, and how it was made.

    Parameters
    ----------
    seed : int or sequence of int
        Everything about the slice follows from it.
    has_tumor : bool, optional
        Force the class; drawn from the seed (even odds) when None.

    Returns
    -------
    image : ndarray, (h, w) uint8 or uint16, or (h, w, 3) uint8 for ``jpeg_rgb``
        The stored pixels (before JPEG compression for the JPEG formats: :func:`encode_slice`
        compresses them).
    has_tumor : bool
    meta : dict
        ``contrast``, ``level``, ``lesion`` (None when healthy), ``hard_negatives``, ``matrix``,
        ``format``, ``jpeg_quality``, ``skull_stripped``, ``noise_sigma``, ``kspace_fraction``, …

    Examples
    --------
    >>> image, tumor, meta = heldout_mri_slice(3, has_tumor=True)
    >>> tumor, meta["lesion"] in LESIONS, image.dtype.kind
    (True, True, 'u')
    """
    rng = _rng(seed)
    tumor = bool(rng.random() < 0.5) if has_tumor is None else bool(has_tumor)
    contrast = str(rng.choice(CONTRASTS, p=[0.22, 0.3, 0.28, 0.2]))
    meta: dict[str, Any] = {"contrast": contrast, "hard_negatives": [], "allow_asymmetry": not tumor}
    lesion_kind = str(rng.choice(LESIONS, p=[0.45, 0.25, 0.3])) if tumor else None
    z = rng.uniform(0.15, 0.95) if lesion_kind != "glioma" else rng.uniform(0.25, 0.85)
    if lesion_kind == "metastases":
        z = rng.uniform(0.15, 0.9)
    matrix = int(rng.choice(MATRIX_SIZES))
    aspect = 1.0 if rng.random() < 0.6 else rng.uniform(0.8, 1.25)
    h, w = (matrix, max(96, int(matrix * aspect))) if aspect <= 1 else (max(96, int(matrix / aspect)), matrix)
    h, w = h - h % 2, w - w % 2
    supersample = max(1.0, min(2.0, 720 / max(h, w)))
    rh, rw = int(h * supersample), int(w * supersample)
    # Skull-stripped sets hold the cerebrum; the head (about 1.05 units with the scalp) fills 65-95 %
    # of the field of view, the stripped brain (about 0.9) 75-100 %.
    stripped = bool(rng.random() < 0.2) and z >= 0.2
    zoom = rng.uniform(0.62, 0.9) if not stripped else rng.uniform(0.8, 1.05)
    radius = zoom * min(rh, rw) / 2
    centre = (rh / 2 + rng.normal(0, 0.03) * rh, rw / 2 + rng.normal(0, 0.03) * rw)
    angle = math.radians(rng.normal(0, 6))
    canvas = _canvas(rh, rw, centre, radius, angle)
    anatomy = _anatomy(rng, canvas, float(z), stripped, meta)
    level = str(meta["level"])
    lesion = _Lesion.empty((rh, rw))
    if lesion_kind is not None:
        draw = {"glioma": _glioma, "meningioma": _meningioma, "metastases": _metastases}[lesion_kind]
        info: dict[str, Any] = {}
        cx, cy, size = draw(rng, canvas, anatomy, lesion, info)
        meta["lesion_detail"] = info
        strength = rng.uniform(0.1, 0.35) if lesion_kind != "metastases" else rng.uniform(0.0, 0.1)
        anatomy.labels = _mass_effect(canvas, anatomy.labels, anatomy.brain, cx, cy, size, strength)
        if lesion_kind == "meningioma":
            # The CSF cleft between an extra-axial mass and the cortex it pushed in.
            body = (lesion.meningioma > 0.5).astype(np.uint8)
            ring = cv2.dilate(body, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))) > body
            anatomy.labels[ring & anatomy.brain] = CSF
        anatomy.white = anatomy.labels == WM
    _incidental(rng, canvas, anatomy, level, meta, negatives_likely=not tumor)
    if stripped:
        anatomy.labels[~anatomy.brain] = AIR
    image = _render(rng, anatomy.labels, lesion, contrast)
    image = np.asarray(cv2.GaussianBlur(image, (0, 0), 0.6), np.float32)
    image = np.asarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), np.float32)  # partial volume
    image *= _bias_field(rng, (h, w))
    image = _truncate_kspace(rng, image, meta)
    sigma = float(rng.choice([rng.uniform(0.005, 0.02), rng.uniform(0.02, 0.06)]))
    image = _rician(rng, image, sigma)
    if rng.random() < 0.12:
        image = _ghost(rng, image)
        meta["motion_ghost"] = True
    if rng.random() < 0.2 and max(h, w) <= 256:
        factor = float(rng.choice([1.5, 2.0]))
        h, w = int(h * factor) // 2 * 2, int(w * factor) // 2 * 2
        image = np.asarray(
            cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC), np.float32
        )  # for display
        meta["display_interpolated"] = factor
    fmt = str(rng.choice(FORMATS, p=[0.4, 0.2, 0.25, 0.15]))
    top = 65535 if fmt == "png16" and rng.random() < 0.5 else 4095 if fmt == "png16" else 255
    window = np.percentile(image, rng.uniform(99.0, 99.95)) * rng.uniform(0.9, 1.15)
    gamma = rng.uniform(0.85, 1.15)
    scaled = np.clip(image / max(float(window), 1e-6), 0, 1) ** gamma * top
    stored: npt.NDArray[Any] = np.rint(scaled).astype(np.uint16 if top > 255 else np.uint8)
    if top == 255 and rng.random() < 0.1:
        _annotate(rng, stored, top)
        meta["annotation"] = True
    if fmt == "jpeg_rgb":
        stored = np.repeat(stored[:, :, None], 3, axis=2)
    meta.pop("allow_asymmetry")
    meta.update(
        lesion=lesion_kind,
        matrix=[int(stored.shape[0]), int(stored.shape[1])],
        format=fmt,
        jpeg_quality=int(rng.integers(55, 96)) if fmt.startswith("jpeg") else None,
        skull_stripped=stripped,
        noise_sigma=round(sigma, 4),
        z=round(float(z), 3),
        rotation_degrees=round(math.degrees(angle), 2),
    )
    return stored, tumor, meta


def encode_slice(image: npt.NDArray[Any], meta: dict[str, Any]) -> tuple[bytes, str]:
    """The slice's file bytes and extension (``.png`` or ``.jpg``) as its ``meta["format"]`` says."""
    if str(meta["format"]).startswith("jpeg"):
        pixels = image[:, :, ::-1] if image.ndim == 3 else image  # OpenCV writes BGR; gray stays gray
        ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(meta["jpeg_quality"])])
        extension = ".jpg"
    else:
        ok, data = cv2.imencode(".png", image)
        extension = ".png"
    if not ok:
        raise OSError(f"could not encode a {meta['format']} slice")
    return data.tobytes(), extension


METADATA_FIELDS = ("file", "has_tumor", "lesion", "contrast", "level", "format", "matrix", "hard_negatives")


def write_heldout_mri(out_dir: Path, count: int, seed: int) -> int:
    """Write ``count`` tumor slices to ``out_dir/yes`` and ``count`` healthy ones to ``out_dir/no``.

    Slice ``i`` of a class is drawn from seed ``(seed, 1 if tumor else 0, i)``, so a set grows
    without changing the slices it has; ``metadata.csv`` tells how each was made. Returns the
    number of files written.
    """
    if count < 1:
        raise ValueError(f"count={count} is out of range; use an integer >= 1")
    rows = []
    for folder, has_tumor in (("yes", True), ("no", False)):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            image, _, meta = heldout_mri_slice((seed, int(has_tumor), index), has_tumor=has_tumor)
            data, extension = encode_slice(image, meta)
            name = f"{folder}/H{'Y' if has_tumor else 'N'}{index:05d}{extension}"
            (out_dir / name).write_bytes(data)
            rows.append(
                {
                    "file": name,
                    "has_tumor": int(has_tumor),
                    "lesion": meta["lesion"] or "",
                    "contrast": meta["contrast"],
                    "level": meta["level"],
                    "format": meta["format"],
                    "matrix": "x".join(map(str, meta["matrix"])),
                    "hard_negatives": " ".join(meta["hard_negatives"]),
                }
            )
    with (out_dir / "metadata.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, METADATA_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
