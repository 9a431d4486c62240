"""Tumors of the kinds brain MRI shows, placed in a drawn anatomy.

Kinds (:data:`LESIONS`):

- ``ring_enhancing``: an irregular rim around a necrotic core (glioblastoma, abscess-like);
  bright rim on T1c, bright core on T2;
- ``solid_bright`` / ``solid_dark``: homogeneous masses brighter or darker than brain;
- ``infiltrative``: a diffuse low-grade-glioma-like area whose margin fades into the tissue;
- ``multiple``: two to four small foci, ring or solid (metastases);
- ``small``: one focus of 2.5-4.5 % of the side;
- ``extra_axial``: a homogeneous mass against the skull that pushes the brain in (meningioma).

Vasogenic edema, when drawn, spreads through white matter and spares the cortex; mass effect
pushes the surrounding tissue (ventricles, sulci) away from the lesion. A lesion's mask is its
core (rim and necrosis included, edema excluded); it always lies inside the brain, or inside the
skull for an extra-axial mass, which then counts as brain.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from specimen_classify.domain.synthetic_mri.anatomy import (
    CHOROID,
    CSF,
    DEEP_GRAY,
    GRAY,
    LABEL_COUNT,
    WHITE,
    WHITE_SPOT,
    Anatomy,
    smooth_noise,
)
from specimen_classify.domain.synthetic_mri.contrast import Signals

LESIONS = ("ring_enhancing", "solid_bright", "solid_dark", "infiltrative", "multiple", "small", "extra_axial")
LESION_WEIGHTS = (0.22, 0.14, 0.1, 0.14, 0.14, 0.12, 0.14)
"""How often each kind is drawn."""

_EDEMA_SPREAD = np.zeros(LABEL_COUNT, np.float32)
_EDEMA_SPREAD[[WHITE, WHITE_SPOT, DEEP_GRAY, GRAY, CHOROID]] = (1.0, 1.0, 0.8, 0.3, 0.5)


@dataclass(frozen=True)
class Focus:
    """One lesion focus, in canonical pixels."""

    centre: tuple[float, float]
    radius: float
    style: str
    """``ring``, ``solid``, ``bright``, ``dark``, ``infiltrative`` or ``extra_axial``."""
    edema: float
    """Outer reach of the edema in radii; 0 for none."""
    push: float
    """Mass effect: the largest displacement, in radii; 0 for none."""
    harmonics: npt.NDArray[np.float64]
    phases: npt.NDArray[np.float64]


def _place(rng: np.random.Generator, anatomy: Anatomy, radius: float, harmonics: npt.NDArray[np.float64],
           surface: bool, taken: list[Focus]) -> tuple[tuple[float, float], float]:
    """A centre where the whole blob fits in the brain (or on its surface); the radius may shrink."""
    depth = anatomy.depth
    if surface:
        candidates = np.flatnonzero(((depth > 0.5) & (depth < 2.5)).ravel())
    else:
        reach = radius * (1.0 + float(harmonics.sum()))
        deepest = float(depth.max())
        if reach > 0.85 * deepest:  # a small brain (vertex, posterior fossa): shrink the lesion
            radius *= 0.85 * deepest / reach
            reach = 0.85 * deepest
        candidates = np.flatnonzero((depth >= reach).ravel())
    width = depth.shape[1]
    best: tuple[float, float] = (depth.shape[0] / 2, width / 2)
    for _ in range(12):  # keep foci of a multiple lesion apart when there is room
        row, col = divmod(int(candidates[rng.integers(candidates.size)]), width)
        best = (float(row), float(col))
        if all(np.hypot(row - f.centre[0], col - f.centre[1]) > 1.3 * (radius + f.radius) for f in taken):
            break
    return best, radius


def plan_lesions(rng: np.random.Generator, kind: str, anatomy: Anatomy) -> list[Focus]:
    """Draw the foci of a lesion of ``kind`` (one of :data:`LESIONS`) in ``anatomy``."""
    size = anatomy.labels.shape[0]
    u = rng.uniform
    if kind == "multiple":
        specs = [(size * u(0.02, 0.06), str(rng.choice(["ring", "bright", "solid"])),
                  u(1.4, 2.6) if u() < 0.6 else 0.0, 0.0) for _ in range(int(rng.integers(2, 5)))]
    elif kind == "small":
        specs = [(size * u(0.025, 0.045), str(rng.choice(["ring", "bright", "dark", "solid"])),
                  u(1.5, 2.8) if u() < 0.4 else 0.0, 0.0)]
    else:
        radius, style, edema_chance, push_chance = {
            "ring_enhancing": (u(0.05, 0.15), "ring", 0.75, 0.7),
            "solid_bright": (u(0.04, 0.13), "bright", 0.4, 0.5),
            "solid_dark": (u(0.04, 0.13), "dark", 0.4, 0.5),
            "infiltrative": (u(0.07, 0.16), "infiltrative", 0.0, 0.3),
            "extra_axial": (u(0.06, 0.14), "extra_axial", 0.3, 0.9),
        }[kind]
        specs = [(size * radius, style, u(1.4, 2.6) if u() < edema_chance else 0.0,
                  u(0.2, 0.6) if u() < push_chance else 0.0)]
    foci: list[Focus] = []
    for radius, style, edema, push in specs:
        harmonics = u(0.0, 0.3 if style == "infiltrative" else 0.12, 3)
        phases = u(0.0, 2 * np.pi, 3)
        centre, fitted = _place(rng, anatomy, max(radius, 2.0), harmonics, style == "extra_axial", foci)
        foci.append(Focus(centre, fitted, style, edema, push, harmonics, phases))
    return foci


def displace(labels: npt.NDArray[np.uint8], depth: npt.NDArray[np.float32],
             focus: Focus) -> npt.NDArray[np.uint8]:
    """Labels pushed away from ``focus``; the brain's outline (depth 0) does not move."""
    size = labels.shape[0]
    rows = np.arange(size, dtype=np.float32)[:, None] - np.float32(focus.centre[0])
    cols = np.arange(size, dtype=np.float32)[None, :] - np.float32(focus.centre[1])
    distance = np.sqrt(rows * rows + cols * cols) + np.float32(1e-3)
    reach = np.float32(2.5 * focus.radius)
    held = np.clip(depth / np.float32(0.06 * size), 0.0, 1.0)
    push = np.float32(focus.push * focus.radius) * np.exp(-((distance / reach) ** 2)) * held
    # Sampling from nearer the centre moves tissue outward; distance - push is monotonic.
    ratio = np.maximum(distance - push, 0.0) / distance
    map_x = (np.float32(focus.centre[1]) + cols * ratio).astype(np.float32)
    map_y = (np.float32(focus.centre[0]) + rows * ratio).astype(np.float32)
    return np.asarray(cv2.remap(labels, map_x, map_y, cv2.INTER_NEAREST), np.uint8)


def paint_lesions(rng: np.random.Generator, signal: npt.NDArray[np.float32], labels: npt.NDArray[np.uint8],
                  foci: list[Focus], signals: Signals, anatomy: Anatomy) -> npt.NDArray[np.bool_]:
    """Paint ``foci`` into ``signal`` (in place) and return the tumor mask."""
    size = signal.shape[0]
    tumor = np.zeros((size, size), np.bool_)
    for focus in foci:
        allowed = anatomy.intracranial if focus.style == "extra_axial" else anatomy.brain
        outer = focus.radius * (1.0 + float(focus.harmonics.sum())) * max(focus.edema, 1.3) + 3
        r0, r1 = max(int(focus.centre[0] - outer), 0), min(int(focus.centre[0] + outer) + 2, size)
        c0, c1 = max(int(focus.centre[1] - outer), 0), min(int(focus.centre[1] + outer) + 2, size)
        shape = (r1 - r0, c1 - c0)
        dr = np.arange(r0, r1, dtype=np.float32)[:, None] - np.float32(focus.centre[0])
        dc = np.arange(c0, c1, dtype=np.float32)[None, :] - np.float32(focus.centre[1])
        angle = np.arctan2(dr, dc)
        wobble = np.ones(shape, np.float32)
        for k, (amplitude, phase) in enumerate(zip(focus.harmonics, focus.phases, strict=True), start=2):
            wobble += np.float32(amplitude) * np.cos(k * angle + np.float32(phase))
        roughness = 0.3 if focus.style == "infiltrative" else 0.08
        margin = 1.0 + np.float32(roughness) * smooth_noise(rng, shape, int(rng.integers(4, 8)))
        distance = np.sqrt(dr * dr + dc * dc) / (np.float32(focus.radius) * wobble) * margin
        heterogeneity = np.float32(rng.uniform(0.03, 0.12))
        texture = 1.0 + heterogeneity * smooth_noise(rng, shape, int(rng.integers(6, 14)))
        window = signal[r0:r1, c0:c1]
        inside = allowed[r0:r1, c0:c1]
        if focus.edema > 0:
            fade = np.clip((np.float32(focus.edema) - distance) / np.float32(focus.edema - 1.0), 0.0, 1.0)
            fingers = np.clip(0.6 + 0.8 * smooth_noise(rng, shape, int(rng.integers(5, 10))), 0.0, 1.0)
            edema = fade ** np.float32(rng.uniform(0.6, 1.2)) * fingers * _EDEMA_SPREAD[labels[r0:r1, c0:c1]]
            window += (np.float32(signals.edema) * texture - window) * edema * inside
        core = (distance <= 1.0) & inside
        if focus.style == "infiltrative":
            blend = np.clip((1.5 - distance) / 0.9, 0.0, 1.0) * inside
            window += (np.float32(signals.infiltrative) * texture - window) * blend
        elif focus.style == "ring":
            thickness = rng.uniform(0.2, 0.45) * (1.0 + 0.4 * smooth_noise(rng, shape, 5))
            necrotic = distance <= 1.0 - thickness
            window[core] = (signals.enhancing_rim * texture)[core]
            window[core & necrotic] = (signals.necrosis * texture)[core & necrotic]
        elif focus.style == "extra_axial":
            cleft = (distance > 1.0) & (distance <= 1.0 + 1.5 / focus.radius) & inside
            window[cleft] = signals.tissue[CSF]
            window[core] = (signals.extra_axial * texture)[core]
        else:
            level = {"solid": signals.solid, "bright": signals.bright, "dark": signals.dark}[focus.style]
            window[core] = (level * texture)[core]
        tumor[r0:r1, c0:c1] |= core
    return tumor
